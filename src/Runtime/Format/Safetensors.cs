using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>
/// The Hugging Face safetensors format: an 8-byte little-endian header length, a JSON header,
/// then the raw little-endian bytes of every tensor, back to back, without holes.
/// </summary>
internal static class Safetensors
{
    private const string MetadataKey = "__metadata__";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>More dimensions than any tensor has: bounds the work and the messages a header can cause.</summary>
    private const int MaxRank = 64;

    /// <summary>The header cap of the reference implementation: no allocation is sized by an untrusted number beyond it.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>
    /// Writes the file. With a <paramref name="checksumKey"/>, the <see cref="Checksum"/> of the tensor table and the data
    /// is recorded in the metadata under that key: on a seekable stream it is computed while the data is written and
    /// patched into the header afterwards (one pass over the tensors); otherwise the tensors are hashed first.
    /// </summary>
    public static void Write(
        Stream stream, IReadOnlyList<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string> metadata,
        string? checksumKey = null, ProgressCounter? progress = null)
    {
        if (checksumKey is null)
        {
            WriteFile(stream, Header(tensors, metadata), tensors, checksum: null, progress);
            return;
        }
        var checksum = Checksum.Start(Layout(tensors), dataStart: 0);
        if (!stream.CanSeek)
        {
            foreach (var (_, tensor) in tensors)
            {
                TensorBytes.Hash(checksum, tensor);
            }
            WriteFile(stream, Header(tensors, WithEntry(metadata, checksumKey, Checksum.Format(checksum))), tensors, checksum: null, progress);
            return;
        }
        // A value of the final length, overwritten in place once the data has been hashed.
        var header = Header(tensors, WithEntry(metadata, checksumKey, Checksum.Placeholder));
        var entry = Encoding.UTF8.GetBytes($"\"{checksumKey}\":\"");
        var slot = header.AsSpan().IndexOf([.. entry, .. Encoding.UTF8.GetBytes(Checksum.Placeholder)]) + entry.Length;
        var start = stream.Position;
        var hashing = new PipelinedHash(checksum);
        try
        {
            WriteFile(stream, header, tensors, hashing, progress);
        }
        catch
        {
            // The caller may free the tensors once this returns: no piece of them may still be hashed then.
            hashing.Drain();
            throw;
        }
        hashing.Complete();
        var end = stream.Position;
        stream.Position = start + 8 + slot;
        stream.Write(Encoding.UTF8.GetBytes(Checksum.Format(checksum)));
        stream.Position = end;
    }

    private static void WriteFile(Stream stream, byte[] header, IReadOnlyList<KeyValuePair<string, Tensor>> tensors, PipelinedHash? checksum, ProgressCounter? progress)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var (_, tensor) in tensors)
        {
            TensorBytes.Write(stream, tensor, checksum, progress);
        }
    }

    private static Dictionary<string, string> WithEntry(IReadOnlyDictionary<string, string> metadata, string key, string value)
        => new(metadata) { [key] = value };

    private static byte[] Header(IReadOnlyList<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteStartObject(MetadataKey);
            foreach (var (key, value) in metadata)
            {
                writer.WriteString(key, value);
            }
            writer.WriteEndObject();
            foreach (var entry in Layout(tensors))
            {
                writer.WriteStartObject(entry.Key);
                writer.WriteString("dtype", Dtypes.SafetensorsName(entry.Dtype));
                writer.WriteStartArray("shape");
                foreach (var dimension in entry.Shape)
                {
                    writer.WriteNumberValue(dimension);
                }
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(entry.Offset);
                writer.WriteNumberValue(entry.Offset + entry.ByteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        // Padding with spaces puts the data section on an 8-byte boundary, as the reference writer does.
        var padded = (json.Length + 7) / 8 * 8;
        while (json.Length < padded)
        {
            json.WriteByte((byte)' ');
        }
        return json.ToArray();
    }

    /// <summary>Where each tensor goes: back to back, in the given order, offsets from the start of the data section.</summary>
    private static List<TensorEntry> Layout(IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
    {
        var entries = new List<TensorEntry>(tensors.Count);
        long offset = 0;
        foreach (var (key, tensor) in tensors)
        {
            if (!Dtypes.TryGetSafetensorsName(tensor.dtype, out _))
            {
                throw new NotSupportedException($"'{key}' is a {tensor.dtype} tensor, which safetensors cannot store.");
            }
            var bytes = tensor.numel() * tensor.element_size();
            entries.Add(new TensorEntry(key, tensor.dtype, tensor.shape, offset, bytes));
            offset += bytes;
        }
        return entries;
    }

    /// <summary>True when the file starts like a safetensors file: a header length that fits, then <c>{</c> after optional whitespace.</summary>
    public static bool LooksLikeSafetensors(ReadOnlySpan<byte> start, long fileLength)
    {
        if (start.Length < 9 || BinaryPrimitives.ReadUInt64LittleEndian(start) > (ulong)Math.Max(0, fileLength - 8))
        {
            return false;
        }
        var json = start[8..].TrimStart(" \t\r\n"u8);
        return json.Length > 0 && json[0] == (byte)'{';
    }

    /// <summary>
    /// Reads and validates the header. <paramref name="length"/> is the byte count from the stream's
    /// position to its end, when the stream can tell; offsets in the result are relative to that position.
    /// </summary>
    public static TensorFileIndex ReadIndex(Stream stream, string source, long? length)
    {
        Span<byte> prefix = stackalloc byte[8];
        var read = stream.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        if (read < prefix.Length)
        {
            throw new CheckpointFormatException(source, $"it is {read} bytes long, shorter than the 8-byte header length that starts a safetensors file.");
        }
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if ((headerLength > MaxHeaderBytes || length is { } available && (long)headerLength > available - 8) && ForeignFormats.InsteadOfCheckpoint(prefix) is { } foreign)
        {
            throw new CheckpointFormatException(source, foreign);
        }
        if (headerLength > MaxHeaderBytes)
        {
            throw new CheckpointFormatException(source, $"the header length field says {headerLength} bytes, more than the {MaxHeaderBytes}-byte limit.");
        }
        if (length is { } total && (long)headerLength > total - 8)
        {
            throw new CheckpointFormatException(source, $"the header length field says {headerLength} bytes, but only {total - 8} bytes follow it.");
        }
        var header = ReadHeaderBytes(stream, (int)headerLength, out read);
        if (read < (int)headerLength)
        {
            throw new CheckpointFormatException(source, $"the header length field says {headerLength} bytes, but the stream ends after {read}.");
        }
        var dataStart = 8 + (long)headerLength;
        return Parse(header, source, dataStart, length - dataStart);
    }

    /// <summary>
    /// Reads the header in pieces, so that a stream of unknown length that claims a large header costs memory only
    /// for the bytes it actually delivers.
    /// </summary>
    private static byte[] ReadHeaderBytes(Stream stream, int length, out int read)
    {
        var buffer = new byte[Math.Min(length, 1 << 20)];
        read = 0;
        while (read < length)
        {
            if (read == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
            }
            var count = stream.Read(buffer, read, buffer.Length - read);
            if (count == 0)
            {
                break;
            }
            read += count;
        }
        return buffer;
    }

    private static TensorFileIndex Parse(byte[] header, string source, long dataStart, long? dataLength)
    {
        JsonDocument document;
        try
        {
            // JsonDocument defers some UTF-8 checks to property access; checking up front keeps every failure here.
            StrictUtf8.GetCharCount(header);
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new CheckpointFormatException(source, $"the header is not valid UTF-8 JSON ({e.Message}).", e);
        }
        using (document)
        {
            try
            {
                return ReadHeader(document.RootElement, source, dataStart, dataLength);
            }
            catch (InvalidOperationException e)
            {
                // Escaped text that is not valid UTF-16 ("\ud800") fails only when a name or value is read.
                throw new CheckpointFormatException(source, $"the header holds text that is not valid Unicode ({e.Message}).", e);
            }
        }
    }

    private static TensorFileIndex ReadHeader(JsonElement root, string source, long dataStart, long? dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException(source, $"the header is a JSON {root.ValueKind}, not an object.");
        }
        var metadata = new Dictionary<string, string>();
        var entries = new List<TensorEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw new CheckpointFormatException(source, $"the header names {Fragment.Quote(property.Name)} twice.");
            }
            if (property.Name == MetadataKey)
            {
                // The reference reader takes null as "no metadata".
                if (property.Value.ValueKind != JsonValueKind.Null)
                {
                    ReadMetadata(property.Value, source, metadata);
                }
            }
            else
            {
                entries.Add(ReadEntry(property, source, dataStart));
            }
        }
        CheckLayout(entries, source, dataStart, dataLength);
        return new TensorFileIndex(source, entries, metadata, dataStart);
    }

    private static void ReadMetadata(JsonElement value, string source, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException(source, $"'{MetadataKey}' is a JSON {value.ValueKind}, not an object of strings.");
        }
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new CheckpointFormatException(source, $"'{MetadataKey}.{Fragment.Escape(item.Name)}' is a JSON {item.Value.ValueKind}, not a string.");
            }
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw new CheckpointFormatException(source, $"'{MetadataKey}' names {Fragment.Quote(item.Name)} twice.");
            }
        }
    }

    private static TensorEntry ReadEntry(JsonProperty property, string source, long dataStart)
    {
        var key = property.Name;
        var value = property.Value;
        CheckpointFormatException Invalid(string problem) => new(source, $"tensor {Fragment.Quote(key)}: {problem}");

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid($"its entry is a JSON {value.ValueKind}, not an object.");
        }
        string? dtypeName = null;
        long[]? shape = null;
        long[]? offsets = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtypeName is null && field.Value.ValueKind == JsonValueKind.String:
                    dtypeName = field.Value.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(field.Value) ?? throw Invalid($"'shape' is not an array of at most {MaxRank} non-negative integers.");
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadIntegers(field.Value) is { Length: 2 } pair ? pair : throw Invalid("'data_offsets' is not a pair of non-negative integers.");
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw Invalid($"'{field.Name}' is repeated or of the wrong JSON type.");
                default:
                    // The reference reader ignores fields it does not know.
                    break;
            }
        }
        if (dtypeName is null || shape is null || offsets is null)
        {
            throw Invalid("the entry needs 'dtype', 'shape' and 'data_offsets'.");
        }
        if (!Dtypes.TryParseSafetensorsName(dtypeName, out var dtype))
        {
            throw Invalid($"unknown dtype {Fragment.Quote(dtypeName)}.");
        }
        if (offsets[1] < offsets[0])
        {
            throw Invalid($"data_offsets [{offsets[0]}, {offsets[1]}] end before they begin.");
        }
        var expected = Dtypes.ByteLength(dtype, shape) ?? throw Invalid($"shape [{string.Join(", ", shape)}] of {dtypeName} overflows a 64-bit byte count.");
        var actual = offsets[1] - offsets[0];
        if (expected != actual)
        {
            throw Invalid($"shape [{string.Join(", ", shape)}] of {dtypeName} needs {expected} bytes, but data_offsets [{offsets[0]}, {offsets[1]}] hold {actual}.");
        }
        return new TensorEntry(key, dtype, shape, dataStart + offsets[0], actual);
    }

    private static long[]? ReadIntegers(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > MaxRank)
        {
            return null;
        }
        var numbers = new long[value.GetArrayLength()];
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var number) || number < 0)
            {
                return null;
            }
            numbers[i++] = number;
        }
        return numbers;
    }

    /// <summary>The data section must be covered exactly: no overlap, no hole, nothing past the end.</summary>
    private static void CheckLayout(List<TensorEntry> entries, string source, long dataStart, long? dataLength)
    {
        var expectedOffset = dataStart;
        foreach (var entry in entries.OrderBy(e => e.Offset).ThenBy(e => e.ByteLength))
        {
            if (entry.Offset != expectedOffset)
            {
                var problem = entry.Offset < expectedOffset ? "overlaps the tensor before it" : "leaves a gap after the tensor before it";
                throw new CheckpointFormatException(source, $"tensor {Fragment.Quote(entry.Key)} at data offset {(entry.Offset - dataStart).ToString(CultureInfo.InvariantCulture)} {problem} (expected offset {expectedOffset - dataStart}).");
            }
            expectedOffset += entry.ByteLength;
        }
        var end = expectedOffset - dataStart;
        if (dataLength is { } available && end != available)
        {
            throw new CheckpointFormatException(source, end > available
                ? $"the tensors need {end} data bytes, but the file holds {available}: it is truncated."
                : $"the tensors end at data byte {end}, but the file holds {available}: {available - end} bytes follow the last tensor.");
        }
    }
}
