using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Threading.Tasks;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>Reading tensors out of an indexed file, whichever format it has.</summary>
internal static class TensorFiles
{
    /// <summary>Indexes a pretrained-weights file: safetensors, or TorchSharp's <c>Module.save</c> format (a legacy PyTorch pickle is named as such).</summary>
    public static TensorFileIndex Index(FileStream stream)
    {
        Span<byte> start = stackalloc byte[256];
        var read = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        if (Safetensors.LooksLikeSafetensors(start[..read], stream.Length))
        {
            return Safetensors.ReadIndex(stream, stream.Name, stream.Length);
        }
        return ForeignFormats.InsteadOfWeights(start[..read]) is { } foreign
            ? throw new CheckpointFormatException(stream.Name, foreign)
            : TorchSharpFormat.ReadIndex(stream, stream.Name);
    }

    /// <summary>
    /// Reads <paramref name="wanted"/> entries of <paramref name="index"/> into new CPU tensors, in file order.
    /// <paramref name="origin"/> is the stream position entry offsets count from; a stream that cannot seek
    /// must stand right after the header. With a <paramref name="checksum"/>, every byte of the data section is
    /// read (unwanted entries too) and appended to it. The stream is left at the end of the data section. On failure no
    /// tensor is left undisposed. <paramref name="beforeHashing"/> is work the hashing core finishes first (see
    /// <see cref="PipelinedHash"/>); its failure fails the read.
    /// </summary>
    public static Dictionary<string, Tensor> Read(Stream stream, long origin, TensorFileIndex index, IEnumerable<TensorEntry> wanted, XxHash3? checksum = null, ProgressCounter? progress = null, Task? beforeHashing = null)
    {
        var keys = wanted.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var position = index.DataStart;
        var hashing = checksum is null ? null : new PipelinedHash(checksum, beforeHashing);
        try
        {
            foreach (var entry in (checksum is null ? wanted : index.Entries).OrderBy(e => e.Offset))
            {
                position = MoveTo(stream, origin, position, entry.Offset);
                if (keys.Contains(entry.Key))
                {
                    var tensor = StagingMemory.Empty(entry.Shape, entry.Dtype);
                    tensors.Add(entry.Key, tensor);
                    TensorBytes.Read(stream, tensor, hashing, progress);
                }
                else
                {
                    Skip(stream, entry.ByteLength, hashing);
                }
                position += entry.ByteLength;
            }
            MoveTo(stream, origin, position, index.DataEnd);
            hashing?.Complete();
            return tensors;
        }
        catch (Exception e)
        {
            // No piece may still be hashed when its memory is freed.
            hashing?.Drain();
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
        }
        else
        {
            // A forward-only stream: read past the entries not wanted (pretrained weights in a full checkpoint).
            Skip(stream, offset - position, checksum: null);
        }
        return offset;
    }

    /// <summary>Reads past <paramref name="count"/> bytes, hashing them when asked.</summary>
    private static void Skip(Stream stream, long count, PipelinedHash? checksum)
    {
        if (checksum is null && stream.CanSeek)
        {
            stream.Seek(count, SeekOrigin.Current);
            return;
        }
        var buffer = new byte[(int)Math.Min(count, 1 << 20)];
        for (var left = count; left > 0;)
        {
            var read = stream.ReadAtLeast(buffer.AsSpan(0, (int)Math.Min(buffer.Length, left)), 1);
            checksum?.AppendNow(buffer.AsSpan(0, read));
            left -= read;
        }
    }
}
