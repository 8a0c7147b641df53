using System;
using System.Buffers.Binary;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>The module PyTorch/make_encoder.py saves: its keys match encoder.pt's.</summary>
public sealed class PyTorchEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Linear input = nn.Linear(16, 32);
    private readonly BatchNorm1d norm = nn.BatchNorm1d(32);
    private readonly Linear output = nn.Linear(32, 8);

    public PyTorchEncoder() : base(nameof(PyTorchEncoder)) => RegisterComponents();

    public override Tensor forward(Tensor x) => output.forward(nn.functional.relu(norm.forward(input.forward(x))));
}

/// <summary>A model whose frozen encoder comes from a PyTorch file (a mutated encoder.pt, in the fuzzer).</summary>
public sealed partial class PickleModel : nn.Module<Tensor, Tensor>
{
    public const string Source = "encoder.pt";

    [Pretrained(Source)]
    private readonly PyTorchEncoder encoder = StandInWeights.Create(() => new PyTorchEncoder());

    private readonly Linear head = nn.Linear(8, 2);

    public PickleModel() : base(nameof(PickleModel))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public PyTorchEncoder Encoder => encoder;

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}

/// <summary>
/// Mutations of a real torch.save file (encoder.pt, written by PyTorch 1.13) aimed at the limits for PyTorch files: the
/// pickle's opcodes (claimed lengths, integers that are shapes, strides, offsets and storage sizes, Python names, strings
/// that are keys and storage names, deleted, repeated, swapped and inserted opcodes, truncation), the zip's structure
/// (declared sizes, compression methods, entries sharing data, renamed, dropped, repeated and compressed entries, the
/// announced entry count), the storages' bytes, and plain bit flips and truncations. Each is loaded as a model's
/// pretrained source: it loads (and then holds what PyBridge reads from the file unchecked) or is refused with the model
/// unchanged, and the file is closed afterwards. The most a case allocated in managed memory is reported.
/// </summary>
public static class PickleFuzzer
{
    private static readonly (string Module, string Name)[] Globals =
    [
        ("os", "system"), ("builtins", "bytearray"), ("builtins", "eval"), ("torch", "DoubleStorage"), ("torch", "HalfStorage"),
        ("torch", "QUInt8Storage"), ("collections", "OrderedDict"), ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_qtensor"), ("array", "array"), ("_codecs", "encode"), ("torch", "FloatStorage"),
    ];

    private static readonly long[] Integers = [0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 255, 256, 511, 512, 513, 65535, 65536, int.MaxValue, -1, -2, 1L << 31, 1L << 40, 500_000_000];

    private static readonly string[] Strings = ["storage", "0", "1", "8", "99", "cpu", "cuda:0", "input.weight", "norm.running_mean", "", "x\u0000y", "data.pkl", "../0"];

    public static FamilyReport Run(int cases, int seed, string folder)
    {
        var report = new FamilyReport("pickle");
        var random = new Random(seed);
        var original = Original();
        var items = Entries(original);
        var path = Path.Combine(folder, PickleModel.Source);
        var options = new PretrainedLoadOptions { BaseDirectory = folder };
        using var model = new PickleModel();
        using var snapshot = new ModelSnapshot(model);
        long mostAllocated = 0;
        for (var i = 0; i < cases; i++)
        {
            var (content, mutation) = Mutate(original, items, random);
            File.WriteAllBytes(path, content);
            var description = $"case {i} ({mutation})";
            var clock = Stopwatch.StartNew();
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
            string outcome;
            var refused = true;
            try
            {
                model.LoadPretrained(options);
                refused = false;
                outcome = "loaded";
            }
            catch (Exception e)
            {
                outcome = report.Classify(e, description);
            }
            var took = clock.Elapsed;
            mostAllocated = Math.Max(mostAllocated, GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore);
            report.Count(outcome, took);
            if (refused && snapshot.Changes(model) is { Count: > 0 } keys)
            {
                report.Changed++;
                report.Fail($"{description}: refused, but changed {string.Join(", ", keys)}");
            }
            if (!refused && Illegitimate(model, path) is { } why)
            {
                report.Illegitimate++;
                report.Fail($"{description}: loaded, but {why}");
            }
            if (!Released(path))
            {
                report.LeftOpen++;
                report.Fail($"{description}: the file is still open after the load");
            }
            snapshot.Restore(model);
        }
        report.Notes.Add($"at most {mostAllocated / 1024:N0} KiB of managed memory allocated by one case");
        return report.Finish();
    }

    /// <summary>encoder.pt, as PyTorch wrote it.</summary>
    public static byte[] Original()
    {
        using var resource = typeof(PickleFuzzer).Assembly.GetManifestResourceStream("encoder.pt")!;
        using var copy = new MemoryStream();
        resource.CopyTo(copy);
        return copy.ToArray();
    }

    private static List<ZipItem> Entries(byte[] file)
    {
        using var archive = new ZipArchive(new MemoryStream(file), ZipArchiveMode.Read);
        return archive.Entries.Select(e =>
        {
            using var data = e.Open();
            using var copy = new MemoryStream();
            data.CopyTo(copy);
            return new ZipItem(e.FullName, copy.ToArray());
        }).ToList();
    }

    /// <summary>A load that succeeded must give the encoder exactly what PyBridge reads from the file without any check.</summary>
    private static string? Illegitimate(PickleModel model, string path)
    {
        var table = PyTorchUnpickler.UnpickleStateDict(path);
        try
        {
            foreach (var (key, tensor) in model.Encoder.state_dict())
            {
                if (table[key] is not Tensor read || !ModelSnapshot.BitIdentical(read, tensor))
                {
                    return $"the encoder's '{key}' is not what PyBridge reads from the file";
                }
            }
            return null;
        }
        finally
        {
            foreach (DictionaryEntry entry in table)
            {
                (entry.Value as Tensor)?.Dispose();
            }
        }
    }

    /// <summary>No handle left open: the file opens exclusively (.NET's advisory lock on Unix) and deletes.</summary>
    private static bool Released(string path)
    {
        try
        {
            using (new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
            }
            File.Delete(path);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static (byte[] Content, string Mutation) Mutate(byte[] original, List<ZipItem> items, Random random)
    {
        var pickleAt = items.FindIndex(i => i.Name.EndsWith("data.pkl", StringComparison.Ordinal));
        switch (random.Next(10))
        {
            case < 4:
                var pickle = MutatePickle(items[pickleAt].Data, random, out var how);
                return (TorchFileWriter.Zip([.. items.Select((item, i) => i == pickleAt ? item with { Data = pickle } : item)]), how);
            case < 7:
                return MutateZip(items, random);
            case 7:
                var storages = items.Where(i => i.Name.Contains("/data/", StringComparison.Ordinal)).ToList();
                var storage = storages[random.Next(storages.Count)];
                var length = random.Next(3) switch { 0 => 0, 1 => storage.Data.Length / 2, _ => storage.Data.Length + random.Next(1, 64) };
                var resized = new byte[length];
                storage.Data.AsSpan(0, Math.Min(length, storage.Data.Length)).CopyTo(resized);
                return (TorchFileWriter.Zip([.. items.Select(i => i == storage ? i with { Data = resized } : i)]), $"storage {storage.Name} resized to {length} bytes");
            case 8:
                var bytes = (byte[])original.Clone();
                var flips = random.Next(1, 9);
                for (var f = 0; f < flips; f++)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }
                return (bytes, $"{flips} bit flips");
            default:
                var cut = random.Next(original.Length);
                return random.Next(2) == 0
                    ? (original[..cut], $"truncated to {cut} bytes")
                    : ([.. original, .. Enumerable.Range(0, random.Next(1, 200)).Select(_ => (byte)random.Next(256))], "bytes appended");
        }
    }

    /// <summary>One opcode-aware change to the pickle.</summary>
    private static byte[] MutatePickle(byte[] pickle, Random random, out string how)
    {
        var ops = Disassemble(pickle);
        var (start, length, opcode) = ops[random.Next(ops.Count)];
        byte[] Replace(int at, int count, ReadOnlySpan<byte> with) => [.. pickle[..at], .. with, .. pickle[(at + count)..]];
        switch (random.Next(8))
        {
            case 0 when CountWidth(opcode) is var width and > 0:
                // A claimed length: huge, negative, a little off.
                var claims = new long[] { int.MaxValue, uint.MaxValue, -1, long.MaxValue, 1L << 40, 0, 1, 200 };
                var claim = random.Next(3) == 0 ? ReadCount(pickle, start + 1, width) + random.Next(-3, 4) : claims[random.Next(claims.Length)];
                var encoded = new byte[width];
                WriteCount(encoded, claim);
                how = $"opcode 0x{opcode:x2} at {start} claims {claim}";
                return Replace(start + 1, width, encoded);
            case 1 when opcode is (byte)'K' or (byte)'M' or (byte)'J' or 0x8a:
                var value = Integers[random.Next(Integers.Length)];
                how = $"integer at {start} = {value}";
                return Replace(start, length, new PickleWriter().Int(value).ToArray());
            case 2 when opcode == (byte)'c':
                var (module, name) = Globals[random.Next(Globals.Length)];
                how = $"global at {start} = {module}.{name}";
                return Replace(start, length, new PickleWriter().Global(module, name).ToArray());
            case 3 when opcode is (byte)'X' or 0x8c:
                var text = Strings[random.Next(Strings.Length)];
                how = $"string at {start} = '{text}'";
                return Replace(start, length, new PickleWriter().Unicode(text).ToArray());
            case 4:
                how = $"opcode 0x{opcode:x2} at {start} deleted";
                return Replace(start, length, []);
            case 5:
                how = $"opcode 0x{opcode:x2} at {start} repeated";
                return Replace(start, 0, pickle.AsSpan(start, length));
            case 6:
                var inserted = (byte)random.Next(256);
                how = $"byte 0x{inserted:x2} inserted at {start}";
                return Replace(start, 0, [inserted]);
            default:
                var cut = random.Next(pickle.Length);
                how = $"pickle truncated to {cut} bytes";
                return pickle[..cut];
        }
    }

    private static (byte[], string) MutateZip(List<ZipItem> items, Random random)
    {
        var at = random.Next(items.Count);
        var item = items[at];
        long[] sizes = [0, 1, item.Data.Length - 1, item.Data.Length + 1, item.Data.Length * 2L, 400L << 20, uint.MaxValue - 1];
        ZipItem changed;
        string how;
        switch (random.Next(9))
        {
            case 0:
                var declared = sizes[random.Next(sizes.Length)];
                changed = item with { DeclaredLength = declared };
                how = $"{item.Name} declares {declared} bytes";
                break;
            case 1:
                var compressed = sizes[random.Next(sizes.Length)];
                changed = item with { DeclaredCompressedLength = compressed };
                how = $"{item.Name} declares {compressed} compressed bytes";
                break;
            case 2:
                var method = new[] { 1, 8, 9, 12, 14, 99 }[random.Next(6)];
                changed = item with { DeclaredMethod = method };
                how = $"{item.Name} declares method {method}";
                break;
            case 3:
                changed = item with { Deflate = true };
                how = $"{item.Name} deflated";
                break;
            case 4:
                var other = items[random.Next(items.Count)];
                changed = item with { SharesDataOf = other.Name == item.Name ? null : other.Name, DeclaredLength = item.Data.Length, DeclaredCompressedLength = item.Data.Length };
                how = $"{item.Name} points at the data of {other.Name}";
                break;
            case 5:
                var renamed = item.Name + (random.Next(2) == 0 ? "x" : "/");
                changed = item with { Name = renamed };
                how = $"{item.Name} renamed {renamed}";
                break;
            case 6:
                how = $"{item.Name} dropped";
                return (TorchFileWriter.Zip([.. items.Where((_, i) => i != at)]), how);
            case 7:
                how = $"{item.Name} repeated";
                return (TorchFileWriter.Zip([.. items, item with { Data = [.. item.Data, 1, 2, 3, 4] }]), how);
            default:
                var announced = random.Next(3) switch { 0 => 0, 1 => items.Count + 1, _ => 65535 };
                how = $"{announced} entries announced";
                return (TorchFileWriter.Zip(items, announced), how);
        }
        return (TorchFileWriter.Zip([.. items.Select((existing, i) => i == at ? changed : existing)]), how);
    }

    /// <summary>Where each opcode starts and how long it is with its argument, up to the STOP.</summary>
    private static List<(int Start, int Length, byte Opcode)> Disassemble(byte[] pickle)
    {
        var ops = new List<(int, int, byte)>();
        for (var at = 0; at < pickle.Length;)
        {
            var opcode = pickle[at];
            var width = CountWidth(opcode);
            var length = opcode switch
            {
                _ when width > 0 => 1 + width + (int)Math.Clamp(ReadCount(pickle, at + 1, width), 0, pickle.Length),
                0x80 or (byte)'K' or (byte)'q' or (byte)'h' => 2,
                (byte)'M' => 3,
                (byte)'J' or (byte)'r' or (byte)'j' => 5,
                0x95 or (byte)'G' => 9,
                (byte)'c' => Lines(pickle, at + 1, 2) - at,
                _ => 1,
            };
            ops.Add((at, Math.Min(length, pickle.Length - at), opcode));
            if (opcode == (byte)'.')
            {
                break;
            }
            at += length;
        }
        return ops;
    }

    /// <summary>The width of the length an opcode claims for its argument: 1, 4 or 8 bytes, or 0 when it claims none.</summary>
    private static int CountWidth(byte opcode) => opcode switch
    {
        0x8c or (byte)'C' or (byte)'U' or 0x8a => 1,
        (byte)'X' or (byte)'B' or (byte)'T' or 0x8b => 4,
        0x8d or 0x8e or 0x96 => 8,
        _ => 0,
    };

    private static long ReadCount(byte[] pickle, int at, int width)
    {
        if (at + width > pickle.Length)
        {
            return 0;
        }
        return width switch
        {
            1 => pickle[at],
            4 => BinaryPrimitives.ReadInt32LittleEndian(pickle.AsSpan(at)),
            _ => BinaryPrimitives.ReadInt64LittleEndian(pickle.AsSpan(at)),
        };
    }

    private static void WriteCount(byte[] target, long value)
    {
        switch (target.Length)
        {
            case 1:
                target[0] = (byte)value;
                break;
            case 4:
                BinaryPrimitives.WriteInt32LittleEndian(target, (int)value);
                break;
            default:
                BinaryPrimitives.WriteInt64LittleEndian(target, value);
                break;
        }
    }

    private static int Lines(byte[] pickle, int at, int count)
    {
        for (var i = 0; i < count && at < pickle.Length; i++)
        {
            var end = Array.IndexOf(pickle, (byte)'\n', at);
            at = end < 0 ? pickle.Length : end + 1;
        }
        return at;
    }
}
