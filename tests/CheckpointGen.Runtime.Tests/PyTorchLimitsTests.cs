using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Format;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// PyTorch files (torch.save zip archives read through PyBridge's unpickler) are held to limits checked against the file's
/// real sizes before anything of a claimed size is allocated or inflated; a refusal is a CheckpointFormatException naming
/// the file and the cause, and the file is closed on every path. Real torch.save files (PyTorch/make_*.py) still load.
/// </summary>
public sealed class PyTorchLimitsTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Theory]
    [InlineData("PyTorch/encoder.pt")]
    [InlineData("PyTorch/dtypes.pt")]
    [InlineData("PyTorch/protocol4.pt")]
    [InlineData("PyTorch/large.pt")]
    public void A_real_torch_save_file_loads_exactly_as_PyBridge_reads_it_unchecked(string path)
    {
        var expected = PyTorchUnpickler.UnpickleStateDict(path);
        var files = WeightSource.Open(path, p => File.OpenRead(p));
        try
        {
            var loaded = Assert.Single(files).Loaded!;
            Assert.Equal(expected.Keys.Cast<string>().Order(), loaded.Keys.Order());
            Assert.All(loaded, e => Assert.True(Tensors.BitIdentical((Tensor)expected[e.Key]!, e.Value), e.Key));
        }
        finally
        {
            files.ForEach(f => f.Dispose());
            foreach (DictionaryEntry e in expected)
            {
                (e.Value as Tensor)?.Dispose();
            }
        }
    }

    [Fact]
    public void A_364_byte_pickle_claiming_a_2_GB_string_is_refused_without_allocating_it()
    {
        var pickle = new PickleWriter().Proto(2).Op('}').Op('(').Op('X').UInt32(0x7FFF_FFF0).Raw(new byte[340]).Op('.').ToArray();
        var path = Write("string.pt", TorchFileWriter.Archive(pickle, []));
        Assert.InRange(new FileInfo(path).Length, 300, 700);

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = Refused(path);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Contains("claims a string of 2,147,483,632 bytes at byte 9, but only 341 bytes remain", error.Message);
        Assert.True(allocated < 16 << 20, $"{allocated:N0} bytes allocated");
    }

    public static TheoryData<string, byte[], string> HostilePickles => new()
    {
        { "BINUNICODE8 of 2^62 bytes", Pickle(p => p.Op(0x8d).UInt64(1UL << 62)), "claims a string of 4,611,686,018,427,387,904 bytes" },
        { "BINBYTES8 past the end", Pickle(p => p.Op(0x8e).UInt64(100).Raw(new byte[10])), "claims a bytes object of 100 bytes" },
        { "BYTEARRAY8 of -1 bytes", Pickle(p => p.Op(0x96).UInt64(ulong.MaxValue)), "claims a bytes object of -1 bytes" },
        { "BINBYTES of -2 bytes", Pickle(p => p.Op('B').UInt32(0xFFFF_FFFE)), "claims a bytes object of -2 bytes" },
        { "SHORT_BINBYTES past the end", Pickle(p => p.Op('C').Op(200)), "claims a bytes object" },
        { "BINSTRING of 1 GB", Pickle(p => p.Op('T').UInt32(1 << 30)), "claims a string of 1,073,741,824 bytes" },
        { "LONG4 of 1 GB", Pickle(p => p.Op(0x8b).UInt32(1 << 30)), "claims an integer of 1,073,741,824 bytes" },
        { "a number of 100,000 digits", Pickle(p => p.Op('L').Raw(Enumerable.Repeat((byte)'9', 100_000).ToArray()).Op('\n')), "a number of 100,000 digits" },
        { "a memo entry never written", Pickle(p => p.Op('h').Op(7)), "reads memo entry 7, which it never wrote" },
        { "a text persistent id", Pickle(p => p.Op('P').Raw("0\n"u8)), "opcode 0x50" },
        { "an extension code", Pickle(p => p.Op(0x82).Op(1)), "opcode 0x82" },
        { "os.system", Pickle(p => p.Global("os", "system").Unicode("touch /tmp/pwned").Op(0x85).Op('R')), "refers to the Python name 'os.system'" },
        { "builtins.bytearray of 2 GB", Pickle(p => p.Global("builtins", "bytearray").Int(int.MaxValue).Op(0x85).Op('R')), "refers to the Python name 'builtins.bytearray'" },
        { "a name with control characters", Pickle(p => p.Global("evil\u001b[2J", "x")), "'evil\\u001b[2J.x'" },
        { "a whole model", Pickle(p => p.Global("torch._utils", "_rebuild_parameter").Op(')').Op('R')), "holds a whole model" },
        { "a truncated pickle", Pickle(p => p.Unicode("key")).AsSpan(0, 6).ToArray(), "it is truncated" },
        { "no STOP", new PickleWriter().Proto(2).Op('}').ToArray(), "it is truncated" },
        { "4 million empty lists", Pickle(p => p.Raw(Enumerable.Repeat((byte)']', (1 << 22) + 1).ToArray())), "creates more than 4,194,304 values" },
    };

    [Theory]
    [MemberData(nameof(HostilePickles))]
    public void A_pickle_claiming_more_than_it_holds_is_refused_before_the_unpickler_runs(string what, byte[] pickle, string expected)
    {
        var path = Write("pickle.pt", TorchFileWriter.Archive(pickle, []));

        var error = Refused(path);

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{what}: {error.Message}");
        Assert.False(File.Exists("/tmp/pwned"));
    }

    public static TheoryData<string, TensorSpec, int, string> HostileStorages => new()
    {
        { "500 M floats for an 8 x 8 tensor", new("w", "FloatStorage", "0", 500_000_000, [8, 8]), 256, "claims 500,000,000 x FloatStorage (2,000,000,000 bytes), but its entry holds 256 bytes" },
        { "a tensor larger than its storage", new("w", "FloatStorage", "0", 64, [1000, 1000]), 256, "needs 1,000,000 elements of its storage '0', which has 64" },
        { "a stride reaching past the storage", new("w", "FloatStorage", "0", 64, [8, 8], [8, 100]), 256, "needs 757 elements" },
        { "a zero stride repeating one element a billion times", new("w", "FloatStorage", "0", 1, [1 << 30], [0]), 4, "needs 1,073,741,824 elements" },
        { "an offset past the storage", new("w", "FloatStorage", "0", 64, [8, 8], Offset: 64), 256, "needs 128 elements" },
        { "a shape whose size overflows", new("w", "FloatStorage", "0", 64, [int.MaxValue, int.MaxValue, int.MaxValue], [1, 1, 1]), 256, "whose size overflows" },
        { "a negative dimension", new("w", "FloatStorage", "0", 64, [-8, 8]), 256, "whose shape holds '-8'" },
        { "a storage of a type PyBridge cannot read", new("w", "QInt8Storage", "0", 64, [8, 8]), 64, "of type 'torch.QInt8Storage'" },
        { "a storage that is not in the archive", new("w", "FloatStorage", "missing", 64, [8, 8]), 256, "names the storage 'missing', which the archive does not hold" },
    };

    [Theory]
    [MemberData(nameof(HostileStorages))]
    public void A_storage_is_checked_against_its_entry_and_the_tensors_built_on_it(string what, TensorSpec tensor, int entryBytes, string expected)
    {
        var path = Write("storage.pt", TorchFileWriter.Archive(TorchFileWriter.StateDictPickle([tensor]), [("0", new byte[entryBytes])]));

        var error = Refused(path);

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{what}: {error.Message}");
    }

    [Fact]
    public void Tied_weights_load_but_more_sharing_than_that_is_refused()
    {
        TensorSpec Tied(string key) => new(key, "FloatStorage", "0", 64, [8, 8]);
        var storage = new[] { ("0", new byte[256]) };
        var twice = Write("twice.pt", TorchFileWriter.Archive(TorchFileWriter.StateDictPickle([Tied("a"), Tied("b")]), storage));
        var thrice = Write("thrice.pt", TorchFileWriter.Archive(TorchFileWriter.StateDictPickle([Tied("a"), Tied("b"), Tied("c")]), storage));

        var files = WeightSource.Open(twice, p => File.OpenRead(p));
        Assert.Equal(["a", "b"], files.Single().Loaded!.Keys.Order());
        files.ForEach(f => f.Dispose());
        Assert.Contains("its tensors need 768 bytes, built on storages of 256 bytes", Refused(thrice).Message);
    }

    public static TheoryData<string, string> HostileArchives()
    {
        var tensor = new TensorSpec("w", "FloatStorage", "0", 64, [8, 8]);
        var pickle = TorchFileWriter.StateDictPickle([tensor]);
        var data = new byte[256];
        ZipItem Pickle() => new("archive/data.pkl", pickle);
        ZipItem Storage() => new("archive/data/0", data);
        return new()
        {
            { Hex(TorchFileWriter.Zip([Pickle() with { DeclaredLength = 400 << 20 }, Storage()])), "declares 419,430,400 bytes" },
            { Hex(TorchFileWriter.Zip([Pickle() with { Deflate = true, DeclaredLength = pickle.Length + 100 }, Storage()])), "holds only" },
            { Hex(TorchFileWriter.Zip([Pickle(), Storage() with { DeclaredMethod = 14 }])), "compressed with method 14" },
            { Hex(TorchFileWriter.Zip([Pickle(), Storage() with { DeclaredLength = 1 << 20 }])), "compressed with method 0 to 256 bytes from 1,048,576" },
            { Hex(TorchFileWriter.Zip([Pickle(), new ZipItem("archive/data/0", new byte[1 << 20]) { Deflate = true }])), "claims 64 x FloatStorage (256 bytes), but its entry holds 1,048,576 bytes" },
            { Hex(TorchFileWriter.Zip([Pickle(), new ZipItem("archive/data/0", data) { SharesDataOf = "archive/data.pkl", DeclaredLength = 256, DeclaredCompressedLength = 256 }])), "overlap" },
            { Hex(TorchFileWriter.Zip([Pickle(), Storage()], announcedEntries: 60_000)), "has 2 entries where its end record announces 60000" },
            { Hex(TorchFileWriter.Zip([new ZipItem("readme.txt", "no pickle here"u8.ToArray())])), "not a PyTorch state dict: it holds no data.pkl" },
        };
    }

    [Theory]
    [MemberData(nameof(HostileArchives))]
    public void A_zip_whose_sizes_lie_is_refused_before_anything_is_inflated(string archive, string expected)
    {
        var path = Write("archive.pt", Convert.FromHexString(archive));

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = Refused(path);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Contains(expected, error.Message);
        Assert.True(allocated < 16 << 20, $"{allocated:N0} bytes allocated: {error.Message}");
    }

    [Fact]
    public void A_pickle_that_inflates_past_its_declared_size_is_read_only_up_to_it()
    {
        var tensor = new TensorSpec("w", "FloatStorage", "0", 64, [8, 8]);
        var pickle = TorchFileWriter.StateDictPickle([tensor]);
        byte[] inflating = [.. pickle, .. new byte[64 << 20]];
        var path = Write("inflating.pt", TorchFileWriter.Zip([new ZipItem("archive/data.pkl", inflating) { Deflate = true, DeclaredLength = pickle.Length }, new ZipItem("archive/data/0", new byte[256])]));

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var files = WeightSource.Open(path, p => CheckpointFiles.OpenExisting(p, "test file"));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(["w"], files.Single().Loaded!.Keys);
        files.ForEach(f => f.Dispose());
        Assert.True(allocated < 16 << 20, $"{allocated:N0} bytes allocated");
        AssertReleased(path);
    }

    [Fact]
    public void Compressed_entries_inflating_far_beyond_the_file_are_refused()
    {
        var zeros = new byte[64 << 20];
        var tensor = new TensorSpec("w", "FloatStorage", "0", zeros.Length / 4, [zeros.Length / 4]);
        var path = Write("bomb.pt", TorchFileWriter.Zip([new ZipItem("archive/data.pkl", TorchFileWriter.StateDictPickle([tensor])), new ZipItem("archive/data/0", zeros) { Deflate = true }]));

        Assert.Contains("its compressed entries inflate to 67,108,864 bytes, more than 64 times the file's", Refused(path).Message);
    }

    [Fact]
    public void A_refused_pretrained_file_leaves_the_model_as_it_was()
    {
        var source = Path.Combine(folder.Path, PyTorchCaptioner.Source);
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        File.WriteAllBytes(source, TorchFileWriter.Archive(TorchFileWriter.StateDictPickle([new("input.weight", "FloatStorage", "0", 500_000_000, [32, 16])]), [("0", new byte[2048])]));
        using var model = new PyTorchCaptioner();
        using var snapshot = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadPretrained(new PretrainedLoadOptions { BaseDirectory = folder.Path }));

        Assert.Contains("but its entry holds 2,048 bytes", error.Message);
        snapshot.AssertUnchanged(model);
        AssertReleased(source);
    }

    [Fact]
    public void What_was_checked_is_read_again_as_it_was_checked_and_the_rest_live_even_if_the_file_changes()
    {
        var path = Write("changing.bin", Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        using var file = File.OpenRead(path);
        using var view = new SnapshotStream(file.SafeFileHandle, file.Length, maxKept: 64, path);
        var checkedBytes = new byte[10];
        view.Position = 20;
        view.ReadExactly(checkedBytes);
        view.Recording = false;

        using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            writer.Write(new byte[100]);
            writer.SetLength(50);
        }
        var again = new byte[40];
        view.Position = 15;
        var read = view.ReadAtLeast(again, again.Length, throwOnEndOfStream: false);

        Assert.Equal(35, read); // 15-19 live (now zeros), 20-29 as checked, 30-49 live, then the file ends
        Assert.Equal(new byte[5], again[..5]);
        Assert.Equal(Enumerable.Range(20, 10).Select(i => (byte)i), again[5..15]);
        Assert.Equal(new byte[20], again[15..35]);
        using var small = new SnapshotStream(file.SafeFileHandle, file.Length, maxKept: 16, path);
        Assert.Throws<CheckpointFormatException>(() => small.ReadExactly(new byte[20]));
    }

    /// <summary>Refused as a format error naming the file; the file is closed at once: it opens exclusively and deletes.</summary>
    private static CheckpointFormatException Refused(string path)
    {
        var error = Assert.Throws<CheckpointFormatException>(() => WeightSource.Open(path, p => CheckpointFiles.OpenExisting(p, "test file")));
        Assert.Equal(Path.GetFullPath(path), error.Source);
        AssertReleased(path);
        return error;
    }

    private static void AssertReleased(string path)
    {
        // .NET takes an advisory lock for FileShare on Unix: a handle still open would make this throw "being used by another process".
        using (new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
        }
        var copy = path + ".kept";
        File.Copy(path, copy, overwrite: true);
        File.Delete(path);
        File.Move(copy, path);
    }

    private string Write(string name, byte[] content)
    {
        var path = folder.File(name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>A state dict pickle that goes wrong after its first key.</summary>
    private static byte[] Pickle(Action<PickleWriter> hostile)
    {
        var pickle = new PickleWriter().Proto(2).Op('}').Op('(').Unicode("key");
        hostile(pickle);
        return pickle.Op('u').Op('.').ToArray();
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);
}
