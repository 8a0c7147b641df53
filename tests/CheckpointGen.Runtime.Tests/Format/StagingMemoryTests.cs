using System;
using System.Diagnostics;
using System.Threading;
using CheckpointGen.Format;
using CheckpointGen.Parts;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Loads reuse the memory earlier loads freed. That memory is process-wide: these tests rely on the assembly's tests running one at a time (TestSupport.cs).</summary>
public sealed class StagingMemoryTests
{
    [Fact]
    public void A_load_reads_into_the_memory_the_load_before_it_freed()
    {
        using var folder = new TempFolder();
        var (first, second) = TwoCheckpoints(folder);
        using var model = new WideHead();

        model.LoadCheckpoint(first);
        var firstMemory = PretrainedParts.StorageOf(model.Head.weight!);
        model.LoadCheckpoint(second);
        Assert.NotEqual(firstMemory, PretrainedParts.StorageOf(model.Head.weight!));
        model.LoadCheckpoint(first);

        Assert.Equal(firstMemory, PretrainedParts.StorageOf(model.Head.weight!));
        using var expected = new WideHead();
        expected.LoadCheckpoint(first);
        Assert.True(Tensors.BitIdentical(expected.Head.weight!, model.Head.weight!));
    }

    [Fact]
    public void Memory_that_old_weights_are_still_viewed_through_is_never_reused()
    {
        using var folder = new TempFolder();
        var (first, second) = TwoCheckpoints(folder);
        using var model = new WideHead();
        model.LoadCheckpoint(first);
        using var alias = model.Head.weight!.detach();
        using var values = alias.clone();

        model.LoadCheckpoint(second);
        model.LoadCheckpoint(first);
        model.LoadCheckpoint(second);

        Assert.True(Tensors.BitIdentical(values, alias));
        Assert.NotEqual(PretrainedParts.StorageOf(alias), PretrainedParts.StorageOf(model.Head.weight!));
    }

    [Fact]
    public void Between_loads_at_most_the_last_loaded_state_is_kept()
    {
        using var folder = new TempFolder();
        var (first, second) = TwoCheckpoints(folder);
        using (var model = new WideHead())
        {
            for (var i = 0; i < 4; i++)
            {
                model.LoadCheckpoint(i % 2 == 0 ? first : second);
            }
            var weightBlock = 4L << 20;
            Assert.Equal(weightBlock, StagingMemory.KeptBytes);
        }
        // Memory freed outside a load is released, and the next load releases what was kept before it.
        using var other = new WideHead();
        other.LoadCheckpoint(first);
        Assert.Equal(0, StagingMemory.KeptBytes);
    }

    [Fact]
    public void Kept_memory_is_released_when_no_load_follows()
    {
        using var folder = new TempFolder();
        var (first, second) = TwoCheckpoints(folder);
        using var model = new WideHead();
        var keepFor = StagingMemory.KeepFor;
        StagingMemory.KeepFor = TimeSpan.FromSeconds(1);
        try
        {
            model.LoadCheckpoint(first);
            model.LoadCheckpoint(second);
            Assert.Equal(4L << 20, StagingMemory.KeptBytes);

            var waited = Stopwatch.StartNew();
            while (StagingMemory.KeptBytes > 0 && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(20);
            }

            Assert.Equal(0, StagingMemory.KeptBytes);
            using var expected = new WideHead();
            expected.LoadCheckpoint(second);
            Assert.True(Tensors.BitIdentical(expected.Head.weight!, model.Head.weight!));
        }
        finally
        {
            StagingMemory.KeepFor = keepFor;
        }
    }

    private static (string First, string Second) TwoCheckpoints(TempFolder folder)
    {
        var paths = (folder.File("first.safetensors"), folder.File("second.safetensors"));
        manual_seed(1);
        using (var model = new WideHead())
        {
            model.SaveCheckpoint(paths.Item1);
        }
        manual_seed(2);
        using (var model = new WideHead())
        {
            model.SaveCheckpoint(paths.Item2);
        }
        return paths;
    }
}
