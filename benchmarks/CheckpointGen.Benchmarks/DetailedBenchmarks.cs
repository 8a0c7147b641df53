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
/// The detailed numbers behind the quick table, with BenchmarkDotNet's statistics: a 9:1 model with a 16 MB trainable
/// part, saves and loads against the raw write and read of the same bytes (the baselines).
/// Run in process: TorchSharp's native library is loaded once, and the build's fix-up of it applies.
/// </summary>
[Config(typeof(InProcessConfig))]
[MemoryDiagnoser]
public class SaveBenchmarks
{
    private BenchModel model = null!;
    private List<Tensor> trainable = null!;
    private IList<string> skip = null!;
    private string folder = null!;

    [GlobalSetup]
    public void Setup()
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
[Config(typeof(InProcessConfig))]
[MemoryDiagnoser]
public class LoadBenchmarks
{
    private BenchModel model = null!;
    private List<Tensor> trainable = null!;
    private IList<string> skip = null!;
    private string folder = null!;

    [GlobalSetup]
    public void Setup()
    {
        folder = Directory.CreateTempSubdirectory("checkpointgen-bdn-").FullName;
        model = new BenchModel(frozenLayers: 9, width: 2048);
        trainable = RawBytes.Trainable(model);
        skip = model.PretrainedKeys();
        RawBytes.Write(Path.Combine(folder, "raw.bin"), trainable);
        model.SaveCheckpoint(Path.Combine(folder, "checkpoint.safetensors"));
        FlushedSaves.TorchSharp(Path.Combine(folder, "torchsharp.dat"), model, skip);
        FlushedSaves.PyBridge(Path.Combine(folder, "pybridge.safetensors"), model, skip);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        model.Dispose();
        Directory.Delete(folder, recursive: true);
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

/// <summary>In process, with a short job: the numbers of interest are tens of milliseconds.</summary>
public sealed class InProcessConfig : ManualConfig
{
    public InProcessConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }
}
