using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>Reading tensors out of an indexed file, whichever format it has.</summary>
internal static class TensorFiles
{
    /// <summary>Indexes a pretrained-weights file: safetensors, or TorchSharp's <c>Module.save</c> format.</summary>
    public static TensorFileIndex Index(FileStream stream)
    {
        Span<byte> start = stackalloc byte[256];
        var read = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        return Safetensors.LooksLikeSafetensors(start[..read], stream.Length)
            ? Safetensors.ReadIndex(stream, stream.Name, stream.Length)
            : TorchSharpFormat.ReadIndex(stream, stream.Name);
    }

    /// <summary>
    /// Reads <paramref name="entries"/> of <paramref name="index"/> into new CPU tensors, in file order.
    /// <paramref name="origin"/> is the stream position entry offsets count from; a stream that cannot seek
    /// must stand right after the header. On failure no tensor is left undisposed.
    /// </summary>
    public static Dictionary<string, Tensor> Read(Stream stream, long origin, TensorFileIndex index, IEnumerable<TensorEntry> entries)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var position = index.DataStart;
        try
        {
            foreach (var entry in entries.OrderBy(e => e.Offset))
            {
                position = MoveTo(stream, origin, position, entry.Offset);
                var tensor = empty(entry.Shape, entry.Dtype, CPU);
                tensors.Add(entry.Key, tensor);
                TensorBytes.Read(stream, tensor);
                position += entry.ByteLength;
            }
            return tensors;
        }
        catch (Exception e)
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }
            if (e is EndOfStreamException)
            {
                throw new CheckpointFormatException(index.Source, "it ends before the data of its tensors does: it is truncated.", e);
            }
            throw;
        }
    }

    private static long MoveTo(Stream stream, long origin, long position, long offset)
    {
        if (stream.CanSeek)
        {
            stream.Position = origin + offset;
            return offset;
        }
        // A forward-only stream: read past the entries not wanted (pretrained weights in a full checkpoint).
        var skip = new byte[64 * 1024];
        while (position < offset)
        {
            position += stream.ReadAtLeast(skip.AsSpan(0, (int)Math.Min(skip.Length, offset - position)), 1);
        }
        return position;
    }
}
