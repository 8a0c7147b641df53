using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using CheckpointGen;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace CheckpointGen.Benchmarks;

/// <summary>The floor any checkpoint format is measured against: the same tensor bytes written and read with nothing around them.</summary>
public static class RawBytes
{
    /// <summary>Each tensor's bytes straight from its memory, then flushed to disk as SaveCheckpoint flushes: the file, then its folder.</summary>
    public static void Write(string path, IEnumerable<Tensor> tensors)
    {
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
        {
            foreach (var tensor in tensors)
            {
                file.Write(tensor.bytes);
            }
            file.Flush(flushToDisk: true);
        }
        Disk.FlushFolderOf(path);
    }

    /// <summary>
    /// The same, with the kernel's writeback of each 8 MiB started while the next is written, as SaveCheckpoint does:
    /// how much of a save's time that technique takes off, apart from everything else a save does.
    /// </summary>
    public static void WriteWithEarlyWriteback(string path, IEnumerable<Tensor> tensors)
    {
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
        {
            var stream = new CheckpointGen.Format.WritebackStream(file);
            foreach (var tensor in tensors)
            {
                stream.Write(tensor.bytes);
            }
            file.Flush(flushToDisk: true);
        }
        Disk.FlushFolderOf(path);
    }

    /// <summary>Straight into each tensor's memory.</summary>
    public static void Read(string path, IEnumerable<Tensor> tensors)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        foreach (var tensor in tensors)
        {
            file.ReadExactly(tensor.bytes);
        }
    }

    public static List<Tensor> Trainable(BenchModel model) => model.TrainableStateDict().OrderBy(e => e.Key, System.StringComparer.Ordinal).Select(e => e.Value).ToList();
}

/// <summary>The other libraries' saves, made as durable as SaveCheckpoint's: written, then the file and its folder flushed to disk.</summary>
public static class FlushedSaves
{
#pragma warning disable CKPT021 // TorchSharp's own save is the baseline.
    public static void TorchSharp(string path, nn.Module model, IList<string>? skip = null)
    {
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
        {
            using (var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
            {
                model.save(writer, skip);
            }
            file.Flush(flushToDisk: true);
        }
        Disk.FlushFolderOf(path);
    }
#pragma warning restore CKPT021

    public static void PyBridge(string path, nn.Module model, IList<string> skip)
    {
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
        {
            model.save_safetensors(file, skip, leaveOpen: true);
            file.Flush(flushToDisk: true);
        }
        Disk.FlushFolderOf(path);
    }
}

/// <summary>Lets the disk finish earlier writes (Linux, macOS), so that one operation's write-back does not slow the next one's flush.</summary>
public static partial class Disk
{
    /// <summary>
    /// Reads a file once, untimed, so that every load starts from the page cache: the kernel may evict a file's pages
    /// between repetitions (this machine runs proactive reclaim), and a read from the disk measures the disk.
    /// </summary>
    public static void Warm(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var buffer = new byte[1 << 20];
        while (file.Read(buffer) > 0)
        {
        }
    }

    public static void Settle()
    {
        if (!System.OperatingSystem.IsWindows())
        {
            sync();
        }
    }

    /// <summary>What makes a file's name durable, as SaveCheckpoint does after its rename.</summary>
    public static void FlushFolderOf(string path) => Format.AtomicFile.FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

    [LibraryImport("libc")]
    private static partial void sync();
}
