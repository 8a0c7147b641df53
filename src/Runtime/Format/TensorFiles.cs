using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
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

    /// <summary>Whether <see cref="Read"/> reads <paramref name="stream"/> on two threads (<see cref="ParallelRead"/>).</summary>
    public static bool ReadsInParallel(Stream stream) => ReadInParallel(stream) is not null;

    /// <summary>The file a stream is, when it is read on two threads with positional reads: a file that can seek.</summary>
    private static FileStream? ReadInParallel(Stream stream) => stream is FileStream { CanSeek: true } file ? file : null;

    /// <summary>
    /// Reads <paramref name="wanted"/> entries of <paramref name="index"/> into new CPU tensors, in file order.
    /// <paramref name="origin"/> is the stream position entry offsets count from; a stream that cannot seek
    /// must stand right after the header. With a <paramref name="checksum"/>, every byte of the data section is
    /// read (unwanted entries too) and appended to it. The stream is left at the end of the data section. On failure no
    /// tensor is left undisposed.
    /// </summary>
    /// <remarks>
    /// A file is read on two threads (<see cref="ParallelRead"/>); any other stream in order, hashed on another core
    /// (<see cref="PipelinedHash"/>).
    /// </remarks>
    public static Dictionary<string, Tensor> Read(Stream stream, long origin, TensorFileIndex index, IEnumerable<TensorEntry> wanted, Xxh3? checksum = null, ProgressCounter? progress = null)
    {
        var keys = wanted.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            var pieces = new List<FilePiece>();
            foreach (var entry in (checksum is null ? wanted : index.Entries).OrderBy(e => e.Offset))
            {
                if (keys.Contains(entry.Key))
                {
                    var tensor = StagingMemory.Empty(entry.Shape, entry.Dtype);
                    tensors.Add(entry.Key, tensor);
                    TensorBytes.AddPieces(pieces, origin + entry.Offset, tensor);
                }
                else
                {
                    FilePiece.Add(pieces, origin + entry.Offset, entry.ByteLength, destination: 0);
                }
            }
            if (ReadInParallel(stream) is { } file)
            {
                ParallelRead.Run(file.SafeFileHandle, pieces, checksum, progress);
                file.Position = origin + index.DataEnd;
            }
            else
            {
                var end = ReadInOrder(stream, origin + index.DataStart, pieces, checksum is null ? null : new PipelinedHash(checksum), progress);
                MoveTo(stream, end, origin + index.DataEnd);
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

    /// <summary>
    /// Reads the pieces one after the other, the stream standing at <paramref name="position"/> (as every offset here,
    /// counted from the stream's start), hashing them on another core. Returns where the stream then stands.
    /// </summary>
    private static unsafe long ReadInOrder(Stream stream, long position, List<FilePiece> pieces, PipelinedHash? hashing, ProgressCounter? progress)
    {
        var scratch = new byte[FilePiece.Bytes];
        try
        {
            foreach (var piece in pieces)
            {
                position = MoveTo(stream, position, piece.Offset);
                if (piece.Destination == 0)
                {
                    var bytes = scratch.AsSpan(0, piece.Length);
                    stream.ReadExactly(bytes);
                    hashing?.AppendNow(bytes);
                }
                else
                {
                    var bytes = new Span<byte>((void*)piece.Destination, piece.Length);
                    stream.ReadExactly(bytes);
                    hashing?.Append(bytes);
                    progress?.Advance(piece.Length);
                }
                position += piece.Length;
            }
            hashing?.Complete();
            return position;
        }
        catch
        {
            // No piece may still be hashed when its memory is freed.
            hashing?.Drain();
            throw;
        }
    }

    /// <summary>Moves the stream from <paramref name="position"/> to <paramref name="offset"/>, both counted from its start.</summary>
    private static long MoveTo(Stream stream, long position, long offset)
    {
        if (stream.CanSeek)
        {
            stream.Position = offset;
        }
        else
        {
            // A forward-only stream: read past the entries not wanted (pretrained weights in a full checkpoint).
            Skip(stream, offset - position);
        }
        return offset;
    }

    /// <summary>Reads past <paramref name="count"/> bytes of a stream that cannot seek.</summary>
    private static void Skip(Stream stream, long count)
    {
        var buffer = new byte[(int)Math.Min(count, 1 << 20)];
        for (var left = count; left > 0;)
        {
            left -= stream.ReadAtLeast(buffer.AsSpan(0, (int)Math.Min(buffer.Length, left)), 1);
        }
    }
}
