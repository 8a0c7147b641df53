using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Training;

/// <summary>
/// Asynchronous saves: Save returns once the state is copied, and nothing the loop does afterwards reaches that file;
/// one save at a time; a failure in the background is reported by the next call, never lost.
/// </summary>
public sealed class AsyncSaveTests : IDisposable
{
    /// <summary>A 16 MB trainable layer: writing it takes far longer than changing it in place right after Save returns.</summary>
    private const long Features = 2048;

    private static readonly CheckpointManagerOptions Async = new() { Async = true, KeepLast = 0 };

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static optim.Optimizer TrainOnce(ReliabilityModel model)
    {
        var optimizer = optim.SGD(model.TrainableParameters(), 0.01, momentum: 0.9);
        model.train();
        using var output = model.forward(randn(4, 8));
        using var loss = output.pow(2).mean();
        loss.backward();
        optimizer.step();
        model.eval();
        return optimizer;
    }

    [Fact]
    public void Changes_made_in_place_right_after_Save_returns_never_reach_that_file()
    {
        using var model = new ReliabilityModel(Features);
        using var optimizer = TrainOnce(model);
        Assert.NotEmpty(OptimizerStates.Tensors(optimizer));
        using var manager = new CheckpointManager(model, folder.Path, Async);

        model.Fill(1);
        OptimizerStates.Fill(optimizer, 1);
        var saved = manager.Save(1, new TrainingState { Optimizer = optimizer });
        model.Fill(2);
        OptimizerStates.Fill(optimizer, 2);
        manager.WaitForSaves();

        using var loaded = new ReliabilityModel(Features);
        using var loadedOptimizer = TrainOnce(loaded);
        loaded.LoadCheckpoint(saved.Path, new TrainingState { Optimizer = loadedOptimizer });
        Assert.Equal(1, loaded.Version());
        Assert.All(OptimizerStates.Tensors(loadedOptimizer), t => Assert.Equal([1.0], ModelSnapshot.ValuesOf(t).Distinct()));
        Assert.Equal(2, model.Version());
    }

    [Fact]
    public void A_dispose_scope_of_the_loop_around_Save_does_not_free_what_the_background_writes()
    {
        using var model = new ReliabilityModel(Features);
        using var manager = new CheckpointManager(model, folder.Path, Async);

        model.Fill(3);
        CheckpointInfo saved;
        using (NewDisposeScope())
        {
            saved = manager.Save(3);
        }
        manager.WaitForSaves();

        using var loaded = new ReliabilityModel(Features);
        loaded.LoadCheckpoint(saved.Path);
        Assert.Equal(3, loaded.Version());
    }

    [Fact]
    public void The_next_Save_waits_for_the_one_in_flight_and_a_save_is_listed_once_on_disk()
    {
        using var model = new ReliabilityModel(Features);
        using var manager = new CheckpointManager(model, folder.Path, Async with { KeepLast = 2 });

        for (var step = 1; step <= 4; step++)
        {
            model.Fill(step);
            manager.Save(step);
            // The save just started is not listed yet unless it is complete; the one before it always is.
            Assert.Contains(step - 1, manager.Checkpoints.Select(c => c.Step).Append(0));
            Assert.True(manager.Checkpoints.All(c => File.Exists(c.Path)));
        }
        manager.Dispose();

        Assert.Equal([3, 4], manager.Checkpoints.Select(c => c.Step));
        Assert.Equal(["step-3.safetensors", "step-4.safetensors"], Directory.GetFiles(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    public static TheoryData<string> Reporters() => new() { "WaitForSaves", "Save", "Dispose" };

    [Theory]
    [MemberData(nameof(Reporters))]
    public void A_failed_background_save_is_rethrown_once_by_the_next_call_and_the_manager_goes_on(string reporter)
    {
        var directory = folder.File("run");
        using var model = new ReliabilityModel(features: 8);
        var manager = new CheckpointManager(model, directory, Async);
        manager.Save(1);
        manager.WaitForSaves();
        // The folder becomes a file: creating the temporary file in it fails, as on a lost mount.
        Directory.Delete(directory, recursive: true);
        File.WriteAllText(directory, "in the way");

        manager.Save(2);

        Action call = reporter switch
        {
            "WaitForSaves" => manager.WaitForSaves,
            "Save" => () => manager.Save(3),
            _ => manager.Dispose,
        };
        Assert.ThrowsAny<IOException>(call);
        // Reported once: the same call now does its own work.
        File.Delete(directory);
        Directory.CreateDirectory(directory);
        if (reporter != "Dispose")
        {
            model.Fill(4);
            manager.Save(4);
            manager.Dispose();
            Assert.Equal(4, manager.Latest!.Step);
            Assert.Equal(["step-4.safetensors"], Directory.GetFiles(directory).Select(Path.GetFileName));
        }
        manager.Dispose();
    }

    [Fact]
    public void A_failed_foreground_save_throws_from_Save_and_keeps_the_listed_checkpoints()
    {
        var directory = folder.File("run");
        using var model = new ReliabilityModel(features: 8);
        using var manager = new CheckpointManager(model, directory, new CheckpointManagerOptions { KeepLast = 1 });
        manager.Save(1);
        Directory.Delete(directory, recursive: true);
        File.WriteAllText(directory, "in the way");

        Assert.ThrowsAny<IOException>(() => manager.Save(2));

        Assert.Equal([1], manager.Checkpoints.Select(c => c.Step));
    }

    [Fact]
    public void A_file_replaced_by_hand_after_it_was_listed_is_not_deleted_by_retention()
    {
        using var model = new ReliabilityModel(features: 8);
        using var manager = new CheckpointManager(model, folder.Path, Async with { KeepLast = 1 });
        manager.Save(1);
        manager.WaitForSaves();
        File.WriteAllText(folder.File("step-1.safetensors"), "my notes, saved over the checkpoint");

        manager.Save(2);
        manager.WaitForSaves();

        Assert.Equal("my notes, saved over the checkpoint", File.ReadAllText(folder.File("step-1.safetensors")));
        Assert.Equal([2], manager.Checkpoints.Select(c => c.Step));
    }
}
