using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Benchmarks;

/// <summary>The floor any checkpoint format is measured against: the same tensor bytes written and read with nothing around them.</summary>
public static class RawBytes
{
    /// <summary>Each tensor's bytes straight from its memory, then flushed to disk as SaveCheckpoint flushes.</summary>
    public static void Write(string path, IEnumerable<Tensor> tensors)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        foreach (var tensor in tensors)
        {
            file.Write(tensor.bytes);
        }
        file.Flush(flushToDisk: true);
    }

    /// <summary>Straight into each tensor's memory.</summary>
    public static void Read(string path, IEnumerable<Tensor> tensors)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        foreach (var tensor in tensors)
        {
            file.ReadExactly(tensor.bytes);
        }
    }

    public static List<Tensor> Trainable(BenchModel model) => model.TrainableStateDict().OrderBy(e => e.Key, System.StringComparer.Ordinal).Select(e => e.Value).ToList();
}
