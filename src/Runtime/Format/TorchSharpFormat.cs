using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>
/// The file TorchSharp's <c>Module.save</c> writes: a LEB128 entry count, then per entry a
/// length-prefixed UTF-8 key, the LEB128 dtype, rank and dimensions, and the raw tensor bytes.
/// </summary>
internal static class TorchSharpFormat
{
    private const int MaxRank = 64;
    private const int MaxKeyBytes = 1 << 20;

    /// <summary>Indexes a seekable stream holding the whole file, skipping over the tensor bytes.</summary>
    public static TensorFileIndex ReadIndex(Stream stream, string source)
    {
        var length = stream.Length;
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            var count = Leb128(reader, source, "the entry count");
            var entries = new List<TensorEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (long i = 0; i < count; i++)
            {
                if (stream.Position >= length)
                {
                    throw new CheckpointFormatException(source, $"the file announces {count} tensors but ends after {i}.");
                }
                var key = Key(reader, source);
                if (!seen.Add(key))
                {
                    throw new CheckpointFormatException(source, $"it holds {Fragment.Quote(key)} twice.");
                }
                var code = Leb128(reader, source, $"the dtype of {Fragment.Quote(key)}");
                var dtype = (ScalarType)code;
                if (code > sbyte.MaxValue || !Enum.IsDefined(dtype) || Dtypes.SizeOf(dtype) == 0)
                {
                    throw new CheckpointFormatException(source, $"tensor {Fragment.Quote(key)} has the unknown dtype code {code}.");
                }
                var rank = Leb128(reader, source, $"the rank of {Fragment.Quote(key)}");
                if (rank > MaxRank)
                {
                    throw new CheckpointFormatException(source, $"tensor {Fragment.Quote(key)} claims {rank} dimensions.");
                }
                var shape = new long[rank];
                for (var d = 0; d < rank; d++)
                {
                    shape[d] = Leb128(reader, source, $"dimension {d} of {Fragment.Quote(key)}");
                }
                var bytes = Dtypes.ByteLength(dtype, shape);
                var offset = stream.Position;
                if (bytes is null || bytes > length - offset)
                {
                    throw new CheckpointFormatException(source, $"tensor {Fragment.Quote(key)} ({TensorEntry.DescribeTensor(dtype, shape)}) needs {bytes?.ToString(CultureInfo.InvariantCulture) ?? "more than 2^63"} bytes at offset {offset}, past the end of the {length}-byte file.");
                }
                entries.Add(new TensorEntry(key, dtype, shape, offset, bytes.Value));
                stream.Seek(bytes.Value, SeekOrigin.Current);
            }
            if (stream.Position != length)
            {
                throw new CheckpointFormatException(source, $"{length - stream.Position} bytes follow the last of its {count} tensors.");
            }
            return new TensorFileIndex(source, entries, new Dictionary<string, string>(), DataStart: 0);
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointFormatException(source, "it ends in the middle of an entry header.", e);
        }
    }

    private static string Key(BinaryReader reader, string source)
    {
        // BinaryWriter.Write(string): a 7-bit encoded byte count, then UTF-8.
        var byteCount = Leb128(reader, source, "a key length");
        if (byteCount > MaxKeyBytes || byteCount > reader.BaseStream.Length - reader.BaseStream.Position)
        {
            throw new CheckpointFormatException(source, $"a key claims {byteCount} bytes at offset {reader.BaseStream.Position}.");
        }
        var bytes = reader.ReadBytes((int)byteCount);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(source, $"the key at offset {reader.BaseStream.Position - byteCount} is not valid UTF-8.", e);
        }
    }

    private static long Leb128(BinaryReader reader, string source, string what)
    {
        long value = 0;
        for (var shift = 0; shift < 63; shift += 7)
        {
            var b = reader.ReadByte();
            value |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
        throw new CheckpointFormatException(source, $"{what} at offset {reader.BaseStream.Position} is not a valid LEB128 number.");
    }
}
