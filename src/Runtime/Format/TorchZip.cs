using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace CheckpointGen.Format;

/// <summary>An entry as the zip's central directory declares it. <see cref="Method"/>: 0 stored, 8 deflated (9, deflate64, is the other .NET reads).</summary>
internal sealed record ZipRecord(string Name, int Method, long CompressedLength, long Length, long LocalHeaderOffset);

/// <summary>
/// The structure of the zip archive <c>torch.save</c> writes, read with bounds before .NET's <see cref="System.IO.Compression.ZipArchive"/>
/// is given the file: that reader allocates an object per central-directory record it finds, and reads records on for as
/// long as their signature repeats, so their number and size are checked here first, the same way it walks them.
/// </summary>
internal static class TorchZip
{
    /// <summary>More entries than any state dict has (one per storage, and four more).</summary>
    public const int MaxEntries = 1 << 17;

    /// <summary>The central directory's size at most.</summary>
    public const long MaxDirectoryBytes = 32L << 20;

    private const uint EndSignature = 0x06054b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const uint Zip64EndSignature = 0x06064b50;
    private const uint DirectorySignature = 0x02014b50;
    private const uint LocalSignature = 0x04034b50;

    /// <summary>The central directory's records, in order.</summary>
    public static List<ZipRecord> ReadDirectory(Stream stream, string source)
    {
        var length = stream.Length;
        // The end record is the last of its signature in the last 64 KiB + 22 bytes (the comment is at most 65,535 bytes).
        var tailLength = (int)Math.Min(length, 22 + 65535);
        var tail = ReadAt(stream, length - tailLength, tailLength, source);
        var end = -1;
        for (var i = tailLength - 22; i >= 0 && end < 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EndSignature)
            {
                end = i;
            }
        }
        if (end < 0)
        {
            throw Refuse(source, "it starts like a zip archive but has no end-of-directory record.");
        }
        var endRecord = tail.AsSpan(end);
        long entries = BinaryPrimitives.ReadUInt16LittleEndian(endRecord[10..]);
        long directorySize = BinaryPrimitives.ReadUInt32LittleEndian(endRecord[12..]);
        long directoryStart = BinaryPrimitives.ReadUInt32LittleEndian(endRecord[16..]);
        var endAt = length - tailLength + end;
        // ZIP64 (files past 4 GiB, as torch.save writes them): the locator stands right before the end record.
        if (endAt >= 20 && ReadAt(stream, endAt - 20, 20, source) is var locator && BinaryPrimitives.ReadUInt32LittleEndian(locator) == Zip64LocatorSignature)
        {
            var zip64At = BinaryPrimitives.ReadInt64LittleEndian(locator.AsSpan(8));
            if (zip64At < 0 || zip64At > length - 56)
            {
                throw Refuse(source, "its ZIP64 end record lies outside the file.");
            }
            var zip64 = ReadAt(stream, zip64At, 56, source);
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip64) != Zip64EndSignature)
            {
                throw Refuse(source, "its ZIP64 locator points at no ZIP64 end record.");
            }
            // Both readings are bounded: which one a reader takes depends on its version.
            var entries64 = BinaryPrimitives.ReadInt64LittleEndian(zip64.AsSpan(32));
            var size64 = BinaryPrimitives.ReadInt64LittleEndian(zip64.AsSpan(40));
            var start64 = BinaryPrimitives.ReadInt64LittleEndian(zip64.AsSpan(48));
            RequireDirectoryBounds(source, entries64, size64, start64, length);
            if (entries == 0xFFFF || directoryStart == 0xFFFFFFFF || BinaryPrimitives.ReadUInt16LittleEndian(endRecord[4..]) == 0xFFFF)
            {
                (entries, directorySize, directoryStart) = (entries64, size64, start64);
            }
        }
        RequireDirectoryBounds(source, entries, directorySize, directoryStart, length);

        // Records are read for as long as their signature repeats, however many the end record announced.
        var records = new List<ZipRecord>();
        var at = directoryStart;
        long read = 0;
        while (at + 46 <= length && ReadAt(stream, at, 46, source) is var fixedPart && BinaryPrimitives.ReadUInt32LittleEndian(fixedPart) == DirectorySignature)
        {
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart.AsSpan(28));
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart.AsSpan(30));
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart.AsSpan(32));
            var recordLength = 46L + nameLength + extraLength + commentLength;
            read += recordLength;
            if (records.Count == MaxEntries || read > MaxDirectoryBytes)
            {
                throw Refuse(source, $"its zip directory goes on past {MaxEntries:N0} entries or {MaxDirectoryBytes >> 20} MiB, more than a PyTorch state dict has.");
            }
            if (at + recordLength > length)
            {
                throw Refuse(source, "a record of its zip directory runs past the end of the file.");
            }
            var variable = ReadAt(stream, at + 46, nameLength + extraLength, source);
            var name = Encoding.UTF8.GetString(variable, 0, nameLength);
            long compressed = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart.AsSpan(20));
            long uncompressed = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart.AsSpan(24));
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart.AsSpan(42));
            ReadZip64Sizes(variable.AsSpan(nameLength, extraLength), ref uncompressed, ref compressed, ref offset);
            records.Add(new ZipRecord(name, BinaryPrimitives.ReadUInt16LittleEndian(fixedPart.AsSpan(10)), compressed, uncompressed, offset));
            at += recordLength;
        }
        if (records.Count != entries)
        {
            throw Refuse(source, $"its zip directory has {records.Count} entries where its end record announces {entries}.");
        }
        return records;
    }

    /// <summary>Where an entry's data starts, from its local header (which may carry other name and extra lengths than the directory).</summary>
    public static long DataStart(Stream stream, ZipRecord record, string source)
    {
        if (record.LocalHeaderOffset < 0 || record.LocalHeaderOffset > stream.Length - 30)
        {
            throw Refuse(source, $"the local header of its entry {Fragment.Quote(record.Name)} lies outside the file.");
        }
        var header = ReadAt(stream, record.LocalHeaderOffset, 30, source);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != LocalSignature)
        {
            throw Refuse(source, $"its entry {Fragment.Quote(record.Name)} points at no local header.");
        }
        return record.LocalHeaderOffset + 30 + BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(26)) + BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(28));
    }

    public static CheckpointFormatException Refuse(string source, string problem) => new(source, problem);

    private static void RequireDirectoryBounds(string source, long entries, long size, long start, long length)
    {
        if (entries < 0 || entries > MaxEntries || size < 0 || size > MaxDirectoryBytes)
        {
            throw Refuse(source, $"its zip directory announces {entries:N0} entries in {size:N0} bytes; a PyTorch state dict has at most {MaxEntries:N0} entries in {MaxDirectoryBytes >> 20} MiB.");
        }
        if (start < 0 || start > length)
        {
            throw Refuse(source, "its zip directory starts outside the file.");
        }
    }

    /// <summary>The ZIP64 extra field (id 1) holds, in this order, each 32-bit size or offset that reads 0xFFFFFFFF.</summary>
    private static void ReadZip64Sizes(ReadOnlySpan<byte> extra, ref long uncompressed, ref long compressed, ref long offset)
    {
        while (extra.Length >= 4)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            var size = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (size > extra.Length - 4)
            {
                return;
            }
            var data = extra.Slice(4, size);
            if (id == 1)
            {
                foreach (var field in new[] { 0, 1, 2 })
                {
                    ref var value = ref field == 0 ? ref uncompressed : ref field == 1 ? ref compressed : ref offset;
                    if (value == 0xFFFFFFFF && data.Length >= 8)
                    {
                        value = BinaryPrimitives.ReadInt64LittleEndian(data);
                        data = data[8..];
                    }
                }
                return;
            }
            extra = extra[(4 + size)..];
        }
    }

    private static byte[] ReadAt(Stream stream, long at, int count, string source)
    {
        var bytes = new byte[count];
        stream.Position = at;
        if (stream.ReadAtLeast(bytes, count, throwOnEndOfStream: false) < count)
        {
            throw Refuse(source, "it ends inside its own zip directory: it is truncated or changed while read.");
        }
        return bytes;
    }
}
