using System.Collections.Generic;
using System.IO;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace CheckpointGen.Benchmarks;

/// <summary>
/// The detailed numbers behind the quick table, with BenchmarkDotNet's statistics: saves and loads against the raw
/// write and read of the same bytes (the baselines).
/// </summary>
public class SaveBenchmarks : BenchmarkFixture
{
    [GlobalSetup]
    public void Setup() => CreateModel();

    [IterationSetup]
    public void Settle() => Disk.Settle();

    [Benchmark(Baseline = true)]
    public void RawWrite() => RawBytes.Write(Path.Combine(folder, "raw.bin"), trainable);

    [Benchmark]
    public void SaveCheckpoint() => model.SaveCheckpoint(Path.Combine(folder, "checkpoint.safetensors"));

    [Benchmark]
    public void TorchSharpSaveSkippingFrozen() => FlushedSaves.TorchSharp(Path.Combine(folder, "torchsharp.dat"), model, skip);

    [Benchmark]
    public void PyBridgeSaveSafetensors() => FlushedSaves.PyBridge(Path.Combine(folder, "pybridge.safetensors"), model, skip);
}

/// <inheritdoc cref="SaveBenchmarks"/>
public class LoadBenchmarks : BenchmarkFixture
{
    [GlobalSetup]
    public void Setup()
    {
        CreateModel();
        RawBytes.Write(Path.Combine(folder, "raw.bin"), trainable);
        model.SaveCheckpoint(Path.Combine(folder, "checkpoint.safetensors"));
        FlushedSaves.TorchSharp(Path.Combine(folder, "torchsharp.dat"), model, skip);
        FlushedSaves.PyBridge(Path.Combine(folder, "pybridge.safetensors"), model, skip);
    }

    [Benchmark(Baseline = true)]
    public void RawRead() => RawBytes.Read(Path.Combine(folder, "raw.bin"), trainable);

    [Benchmark]
    public CheckpointLoadReport LoadCheckpoint() => model.LoadCheckpoint(Path.Combine(folder, "checkpoint.safetensors"));

    [Benchmark]
    public CheckpointLoadReport LoadCheckpointWithoutChecksum() => model.LoadCheckpoint(Path.Combine(folder, "checkpoint.safetensors"), new CheckpointLoadOptions { VerifyChecksum = false });

#pragma warning disable CKPT020 // TorchSharp's own load is the comparison.
    [Benchmark]
    public void TorchSharpLoadSkippingFrozen() => model.load(Path.Combine(folder, "torchsharp.dat"), strict: false, skip);
#pragma warning restore CKPT020

    [Benchmark]
    public void PyBridgeLoadSafetensors() => model.load_safetensors(Path.Combine(folder, "pybridge.safetensors"), strict: false, skip);
}

/// <summary>
/// The model both benchmark classes use: a 9:1 model with a 16 MB trainable part, and a folder for the files.
/// Run in process: TorchSharp's native library is loaded once, and the build's fix-up of it applies.
/// </summary>
[Config(typeof(InProcessConfig))]
[MemoryDiagnoser]
public abstract class BenchmarkFixture
{
    protected BenchModel model = null!;
    protected List<Tensor> trainable = null!;
    protected IList<string> skip = null!;
    protected string folder = null!;

    protected void CreateModel()
    {
        folder = Directory.CreateTempSubdirectory("checkpointgen-bdn-").FullName;
        model = new BenchModel(frozenLayers: 9, width: 2048);
        trainable = RawBytes.Trainable(model);
        skip = model.PretrainedKeys();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        model.Dispose();
        Directory.Delete(folder, recursive: true);
    }
}

/// <summary>In process, with a short job: the numbers of interest are tens of milliseconds.</summary>
public sealed class InProcessConfig : ManualConfig
{
    public InProcessConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }
}
