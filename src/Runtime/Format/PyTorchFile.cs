using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;

namespace CheckpointGen.Format;

/// <summary>
/// The limits a PyTorch <c>.pt</c>/<c>.bin</c> file (a <c>torch.save</c> zip archive) is held to before TorchSharp.PyBridge
/// reads it, each checked against the file's real sizes before anything of the claimed size is allocated or inflated:
/// the zip directory (<see cref="TorchZip"/>), the pickle's declared and real size, every length and value in the pickle
/// (<see cref="TorchPickle"/>), and every storage against the zip entry that holds it and the tensors built on it.
/// </summary>
internal static class PyTorchFile
{
    /// <summary>The pickle (<c>data.pkl</c>) at most: a state dict's takes a few hundred bytes per tensor.</summary>
    public const long MaxPickleBytes = 64L << 20;

    /// <summary>Compressed entries may inflate to at most this many times the file's size, all together (torch.save stores its entries uncompressed).</summary>
    public const long MaxInflation = 64;

    /// <summary>Tensors may need at most this many times the bytes of the storages they are built on (tied weights read once per key).</summary>
    public const long MaxSharing = 2;

    private const int Stored = 0;

    /// <summary>
    /// Checks the file and returns a view of it in which the zip directory and the pickle are the ones checked, whatever
    /// happens to the file afterwards (<see cref="SnapshotStream"/>): PyBridge's unpickler reads exactly what passed.
    /// The caller keeps owning <paramref name="file"/>.
    /// </summary>
    public static SnapshotStream Check(FileStream file)
    {
        var source = file.Name;
        var length = file.Length;
        var snapshot = new SnapshotStream(file.SafeFileHandle, length, TorchZip.MaxDirectoryBytes + MaxPickleBytes + (8L << 20), source);
        try
        {
            var records = TorchZip.ReadDirectory(snapshot, source);
            byte[] pickle;
            ZipRecord pickleRecord;
            using (var archive = new ZipArchive(snapshot, ZipArchiveMode.Read, leaveOpen: true))
            {
                var entries = archive.Entries;
                if (entries.Count != records.Count || entries.Where((e, i) => e.FullName != records[i].Name || e.Length != records[i].Length || e.CompressedLength != records[i].CompressedLength).Any())
                {
                    throw TorchZip.Refuse(source, "its zip directory reads differently depending on the reader: it is not one torch.save wrote.");
                }
                // The entry PyBridge unpickles: the first whose name ends with data.pkl.
                var index = entries.ToList().FindIndex(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal));
                if (index < 0)
                {
                    throw TorchZip.Refuse(source, "it is a zip archive but not a PyTorch state dict: it holds no data.pkl.");
                }
                pickleRecord = records[index];
                pickle = ReadPickle(entries[index], pickleRecord, source);
            }
            var claims = TorchPickle.Walk(pickle, source);
            CheckStorages(snapshot, records, pickleRecord, claims, length, source);
            snapshot.Recording = false;
            snapshot.Position = 0;
            return snapshot;
        }
        catch (Exception e) when (e is not (CheckpointFormatException or OutOfMemoryException) && (e is not IOException || e is EndOfStreamException))
        {
            // What .NET's zip reader says of a damaged archive (InvalidDataException and the like); a failing disk stays an IOException.
            throw new CheckpointFormatException(source, $"it is a zip archive but not a PyTorch state dict that can be read ({e.GetType().Name}: {e.Message}).", e);
        }
    }

    private static byte[] ReadPickle(ZipArchiveEntry entry, ZipRecord record, string source)
    {
        if (record.Length > MaxPickleBytes || record.CompressedLength > MaxPickleBytes + (MaxPickleBytes >> 8))
        {
            throw TorchZip.Refuse(source, $"its pickle {Fragment.Quote(record.Name)} declares {record.Length:N0} bytes ({record.CompressedLength:N0} compressed); a state dict's pickle has at most {MaxPickleBytes >> 20} MiB.");
        }
        RequireMethod(record, source);
        using var data = entry.Open();
        var pickle = new byte[record.Length];
        var read = data.ReadAtLeast(pickle, pickle.Length, throwOnEndOfStream: false);
        if (read < pickle.Length || data.ReadByte() >= 0)
        {
            // A deflate stream decides its own length: the declared one is only a claim, checked here without inflating further.
            throw TorchZip.Refuse(source, read < pickle.Length
                ? $"its pickle {Fragment.Quote(record.Name)} holds only {read:N0} of the {record.Length:N0} bytes it declares."
                : $"its pickle {Fragment.Quote(record.Name)} holds more than the {record.Length:N0} bytes it declares.");
        }
        return pickle;
    }

    /// <summary>Each storage against the entry that holds it; all entries read inside the file, apart; inflation and sharing bounded.</summary>
    private static void CheckStorages(Stream snapshot, List<ZipRecord> records, ZipRecord pickle, PickleClaims claims, long length, string source)
    {
        var ranges = new List<(long Start, long End, string Name)>();
        long inflated = 0, stored = 0;
        void Add(ZipRecord record)
        {
            var start = TorchZip.DataStart(snapshot, record, source);
            if (record.CompressedLength < 0 || start > length - record.CompressedLength)
            {
                throw TorchZip.Refuse(source, $"the data of its entry {Fragment.Quote(record.Name)} runs past the end of the file.");
            }
            ranges.Add((start, start + record.CompressedLength, record.Name));
            if (record.Method != Stored)
            {
                inflated += record.Length;
            }
        }
        Add(pickle);
        foreach (var storage in claims.Storages)
        {
            // The entry PyBridge reads: the first whose name ends with data/<key>.
            var record = records.FirstOrDefault(r => r.Name.EndsWith("data/" + storage.Key, StringComparison.Ordinal))
                ?? throw TorchZip.Refuse(source, $"its pickle names the storage {Fragment.Quote(storage.Key)}, which the archive does not hold.");
            RequireMethod(record, source);
            if (record.Length != storage.ByteLength)
            {
                throw TorchZip.Refuse(source, $"its storage {Fragment.Quote(storage.Key)} claims {storage.Count:N0} x {storage.TypeName} ({storage.ByteLength:N0} bytes), but its entry holds {record.Length:N0} bytes.");
            }
            Add(record);
            stored += storage.ByteLength;
        }
        ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (var i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Start < ranges[i - 1].End)
            {
                throw TorchZip.Refuse(source, $"the data of its entries {Fragment.Quote(ranges[i - 1].Name)} and {Fragment.Quote(ranges[i].Name)} overlap.");
            }
        }
        if (inflated > MaxInflation * length)
        {
            throw TorchZip.Refuse(source, $"its compressed entries inflate to {inflated:N0} bytes, more than {MaxInflation} times the file's {length:N0}.");
        }
        var needed = claims.Tensors.Sum(t => t.ByteLength);
        if (needed > MaxSharing * stored)
        {
            throw TorchZip.Refuse(source, $"its tensors need {needed:N0} bytes, built on storages of {stored:N0} bytes: more sharing than tied weights.");
        }
    }

    private static void RequireMethod(ZipRecord record, string source)
    {
        if (record.Method is not (Stored or 8 or 9) || (record.Method == Stored && record.CompressedLength != record.Length))
        {
            throw TorchZip.Refuse(source, $"its entry {Fragment.Quote(record.Name)} is compressed with method {record.Method} to {record.CompressedLength:N0} bytes from {record.Length:N0}, which cannot be read.");
        }
    }
}
