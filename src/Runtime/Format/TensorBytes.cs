using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using TorchSharp;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>Moves a tensor's raw bytes between its native memory and a stream without a managed copy.</summary>
internal static class TensorBytes
{
    /// <summary>The largest span handed to a stream at once; spans cannot exceed 2 GiB. Settable so tests reach the chunked path.</summary>
    internal static int ChunkBytes { get; set; } = 1 << 30;

    /// <summary>
    /// Bytes written and hashed per step (a load's reads are cut by <see cref="FilePiece.Bytes"/>): small enough that the
    /// hash on the second core finds them still in cache (a megabyte of L2 on common server cores), large enough that
    /// system calls and hand-overs cost nothing.
    /// </summary>
    private const int PieceBytes = 1 << 20;

    private delegate void PieceAction(Span<byte> piece);

    /// <summary>Writes the tensor's bytes, appending them to <paramref name="checksum"/> when given.</summary>
    public static void Write(Stream stream, Tensor tensor, PipelinedHash? checksum = null, ProgressCounter? progress = null)
    {
        var cpu = OnCpu(tensor, out var copied);
        try
        {
            ForEachPiece(cpu, piece =>
            {
                stream.Write(piece);
                checksum?.Append(piece);
                progress?.Advance(piece.Length);
            });
        }
        finally
        {
            if (copied)
            {
                // The copy's memory is about to go: its pieces must be hashed first (a failure of the hash shows at the end).
                checksum?.Drain();
                cpu.Dispose();
            }
        }
    }

    /// <summary>Cuts a contiguous CPU tensor's memory into the pieces that fill it from the file bytes at <paramref name="offset"/>.</summary>
    public static unsafe void AddPieces(List<FilePiece> pieces, long offset, Tensor tensor)
        => ForEachChunk(tensor, chunk =>
        {
            var bytes = chunk.bytes;
            fixed (byte* start = bytes)
            {
                FilePiece.Add(pieces, offset, bytes.Length, (nint)start);
            }
            offset += bytes.Length;
        });

    /// <summary>Fills a tensor with the bytes at <paramref name="source"/>: straight into its memory when it is contiguous on the CPU.</summary>
    public static unsafe void CopyInto(Tensor tensor, byte* source, ProgressCounter? progress = null)
    {
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
        {
            var offset = 0L;
            ForEachPiece(tensor, piece =>
            {
                new ReadOnlySpan<byte>(source + offset, piece.Length).CopyTo(piece);
                offset += piece.Length;
                progress?.Advance(piece.Length);
            });
            return;
        }
        using var staged = empty(tensor.shape, tensor.dtype, CPU);
        CopyInto(staged, source, progress);
        tensor.copy_(staged);
    }

    /// <summary>Appends the tensor's bytes to <paramref name="hash"/>, straight from its memory when it is contiguous on the CPU.</summary>
    public static void Hash(NonCryptographicHashAlgorithm hash, Tensor tensor)
    {
        var cpu = OnCpu(tensor, out var copied);
        try
        {
            ForEachPiece(cpu, piece => hash.Append(piece));
        }
        finally
        {
            if (copied)
            {
                cpu.Dispose();
            }
        }
    }

    /// <summary>
    /// The tensor as contiguous CPU memory: itself when it already is, else a copy the caller disposes
    /// (<paramref name="copied"/> is true).
    /// </summary>
    public static Tensor OnCpu(Tensor tensor, out bool copied)
    {
        copied = tensor.device_type != DeviceType.CPU || !tensor.is_contiguous();
        if (!copied)
        {
            return tensor;
        }
        using var cpu = tensor.to(CPU);
        return cpu.contiguous();
    }

    private static void ForEachPiece(Tensor tensor, PieceAction action)
    {
        if (tensor.numel() == 0)
        {
            return;
        }
        ForEachChunk(tensor, chunk =>
        {
            var bytes = chunk.bytes;
            for (var start = 0; start < bytes.Length; start += PieceBytes)
            {
                action(bytes.Slice(start, Math.Min(PieceBytes, bytes.Length - start)));
            }
        });
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
