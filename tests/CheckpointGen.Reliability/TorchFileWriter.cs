using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.IO.Hashing;
using System.Linq;
using System.Text;

namespace CheckpointGen.Reliability;

/// <summary>
/// One entry of a hand-made zip archive. The declared sizes, the compression method and the local header it points at can
/// each be a lie, the way a hostile file lies.
/// </summary>
public sealed record ZipItem(string Name, byte[] Data)
{
    /// <summary>Deflate the data (torch.save stores it).</summary>
    public bool Deflate { get; init; }

    public long? DeclaredLength { get; init; }

    public long? DeclaredCompressedLength { get; init; }

    public int? DeclaredMethod { get; init; }

    /// <summary>The directory record points at the local header of this other entry (overlapping entries).</summary>
    public string? SharesDataOf { get; init; }
}

/// <summary>A PyTorch tensor as a state dict pickle describes it: a storage (type, key, element count), an offset, a shape and strides.</summary>
public sealed record TensorSpec(string Key, string StorageType, string StorageKey, long StorageCount, long[] Shape, long[]? Stride = null, long Offset = 0)
{
    /// <summary>Contiguous strides for the shape when none are given.</summary>
    public long[] Strides => Stride ?? Enumerable.Range(0, Shape.Length).Select(i => Shape.Skip(i + 1).Aggregate(1L, (a, b) => a * b)).ToArray();
}

/// <summary>Writes pickles opcode by opcode and zip archives entry by entry, to make PyTorch files good and hostile.</summary>
public static class TorchFileWriter
{
    /// <summary>The pickle torch.save (protocol 2) writes for a state dict of these tensors.</summary>
    public static byte[] StateDictPickle(IEnumerable<TensorSpec> tensors)
    {
        var pickle = new PickleWriter().Proto(2).Op('}').Op('(');
        foreach (var tensor in tensors)
        {
            pickle.Unicode(tensor.Key)
                .Global("torch._utils", "_rebuild_tensor_v2")
                .Op('(')
                .Op('(').Unicode("storage").Global("torch", tensor.StorageType).Unicode(tensor.StorageKey).Unicode("cpu").Int(tensor.StorageCount).Op('t').Op('Q')
                .Int(tensor.Offset)
                .Ints(tensor.Shape)
                .Ints(tensor.Strides)
                .Op(0x89)
                .Global("collections", "OrderedDict").Op(')').Op('R')
                .Op('t').Op('R');
        }
        return pickle.Op('u').Op('.').ToArray();
    }

    /// <summary>A torch.save archive: <c>archive/data.pkl</c>, one <c>archive/data/KEY</c> entry per storage, <c>archive/version</c>.</summary>
    public static byte[] Archive(byte[] pickle, IEnumerable<(string Key, byte[] Data)> storages)
        => Zip([new ZipItem("archive/data.pkl", pickle), .. storages.Select(s => new ZipItem("archive/data/" + s.Key, s.Data)), new ZipItem("archive/version", "3\n"u8.ToArray())]);

    /// <summary>A zip archive of these entries, with whatever lies they carry.</summary>
    public static byte[] Zip(IReadOnlyList<ZipItem> items, long? announcedEntries = null)
    {
        using var file = new MemoryStream();
        var headers = new Dictionary<string, (long Offset, uint Crc, byte[] Stored)>();
        foreach (var item in items.Where(i => i.SharesDataOf is null))
        {
            var stored = item.Deflate ? Deflated(item.Data) : item.Data;
            var crc = Crc32.HashToUInt32(item.Data);
            headers[item.Name] = (file.Position, crc, stored);
            WriteHeader(file, 0x04034b50, item, crc, stored.Length, offset: null);
            file.Write(stored);
        }
        var directoryStart = file.Position;
        foreach (var item in items)
        {
            var (offset, crc, stored) = headers[item.SharesDataOf ?? item.Name];
            WriteHeader(file, 0x02014b50, item, crc, stored.Length, offset);
        }
        var directoryEnd = file.Position;
        Span<byte> end = stackalloc byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end[8..], (ushort)(announcedEntries ?? items.Count));
        BinaryPrimitives.WriteUInt16LittleEndian(end[10..], (ushort)(announcedEntries ?? items.Count));
        BinaryPrimitives.WriteUInt32LittleEndian(end[12..], (uint)(directoryEnd - directoryStart));
        BinaryPrimitives.WriteUInt32LittleEndian(end[16..], (uint)directoryStart);
        file.Write(end);
        return file.ToArray();
    }

    private static void WriteHeader(Stream file, uint signature, ZipItem item, uint crc, long compressed, long? offset)
    {
        var name = Encoding.UTF8.GetBytes(item.Name);
        var central = offset is not null;
        var header = new byte[central ? 46 : 30];
        BinaryPrimitives.WriteUInt32LittleEndian(header, signature);
        var at = central ? 6 : 4; // a directory record has "version made by" first
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at - (central ? 2 : 0)), 20);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at), 20);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at + 2), 0x0800); // UTF-8 names
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at + 4), (ushort)(item.DeclaredMethod ?? (item.Deflate ? 8 : 0)));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(at + 10), crc);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(at + 14), (uint)(item.DeclaredCompressedLength ?? compressed));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(at + 18), (uint)(item.DeclaredLength ?? item.Data.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at + 22), (ushort)name.Length);
        if (central)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(42), (uint)offset!.Value);
        }
        file.Write(header);
        file.Write(name);
    }

    private static byte[] Deflated(byte[] data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
        }
        return output.ToArray();
    }
}

/// <summary>Pickle opcodes, one call each.</summary>
public sealed class PickleWriter
{
    private readonly MemoryStream bytes = new();

    public PickleWriter Op(char opcode) => Op((byte)opcode);

    public PickleWriter Op(byte opcode)
    {
        bytes.WriteByte(opcode);
        return this;
    }

    public PickleWriter Raw(ReadOnlySpan<byte> raw)
    {
        bytes.Write(raw);
        return this;
    }

    public PickleWriter Proto(byte version) => Op(0x80).Op(version);

    public PickleWriter Unicode(string text)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        return Op('X').UInt32((uint)utf8.Length).Raw(utf8);
    }

    public PickleWriter Global(string module, string name) => Op('c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    /// <summary>An integer as Python's pickler writes it: BININT1, BININT2, BININT, or LONG1 beyond 32 bits.</summary>
    public PickleWriter Int(long value)
    {
        if (value is >= 0 and < 256)
        {
            return Op('K').Op((byte)value);
        }
        if (value is >= 0 and < 65536)
        {
            Op('M');
            Span<byte> two = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(two, (ushort)value);
            return Raw(two);
        }
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            return Op('J').UInt32((uint)(int)value);
        }
        Span<byte> eight = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(eight, value);
        return Op(0x8a).Op(8).Raw(eight);
    }

    /// <summary>A tuple of integers (shape, stride).</summary>
    public PickleWriter Ints(IEnumerable<long> values)
    {
        Op('(');
        foreach (var value in values)
        {
            Int(value);
        }
        return Op('t');
    }

    public PickleWriter UInt32(uint value)
    {
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(four, value);
        return Raw(four);
    }

    public PickleWriter UInt64(ulong value)
    {
        Span<byte> eight = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(eight, value);
        return Raw(eight);
    }

    public byte[] ToArray() => bytes.ToArray();

    public override string ToString() => Convert.ToHexString(bytes.ToArray()).ToLower(CultureInfo.InvariantCulture);
}
