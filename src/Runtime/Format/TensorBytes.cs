using System;
using System.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>Moves a tensor's raw bytes between its native memory and a stream without a managed copy.</summary>
internal static class TensorBytes
{
    /// <summary>The largest span handed to a stream at once; spans cannot exceed 2 GiB. Settable so tests reach the chunked path.</summary>
    internal static int ChunkBytes { get; set; } = 1 << 30;

    public static void Write(Stream stream, Tensor tensor)
    {
        if (tensor.numel() == 0)
        {
            return;
        }
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
        {
            ForEachChunk(tensor, chunk => stream.Write(chunk.bytes));
            return;
        }
        using var cpu = tensor.to(CPU);
        using var contiguous = cpu.contiguous();
        ForEachChunk(contiguous, chunk => stream.Write(chunk.bytes));
    }

    /// <summary>Fills a contiguous CPU tensor from the stream.</summary>
    public static void Read(Stream stream, Tensor tensor)
    {
        if (tensor.numel() == 0)
        {
            return;
        }
        ForEachChunk(tensor, chunk => stream.ReadExactly(chunk.bytes));
    }

    private static void ForEachChunk(Tensor tensor, Action<Tensor> action)
    {
        var elementsPerChunk = Math.Max(1, ChunkBytes / tensor.element_size());
        if (tensor.numel() <= elementsPerChunk)
        {
            action(tensor);
            return;
        }
        using var flat = tensor.view(-1);
        for (long start = 0; start < flat.numel(); start += elementsPerChunk)
        {
            using var chunk = flat.narrow(0, start, Math.Min(elementsPerChunk, flat.numel() - start));
            action(chunk);
        }
    }
}
