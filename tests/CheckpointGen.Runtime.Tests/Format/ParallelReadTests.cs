using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Threading;
using CheckpointGen.Format;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

public sealed class ParallelReadTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public void Pieces_read_on_two_threads_land_in_place_and_are_hashed_in_file_order()
    {
        var (path, data) = RandomFile((4 << 20) + 4321, seed: 3);
        // Into tensor memory, a run only hashed (an entry the load passes over), a gap neither read nor hashed, then memory again.
        var (intoFirst, hashedOnly, gapEnd) = ((2 << 20) + 7, (1 << 20) + 3, (3 << 20) + 100);
        using var first = empty(intoFirst, ScalarType.Byte);
        using var last = empty(data.Length - gapEnd, ScalarType.Byte);
        var pieces = new List<FilePiece>();
        TensorBytes.AddPieces(pieces, 0, first);
        FilePiece.Add(pieces, intoFirst, hashedOnly, destination: 0);
        TensorBytes.AddPieces(pieces, gapEnd, last);

        // Repeated, so that the two threads meet the pieces in different orders.
        for (var attempt = 0; attempt < 20; attempt++)
        {
            first.bytes.Clear();
            last.bytes.Clear();
            var hash = new Xxh3();
            var reports = new OverlapCountingProgress();
            using (var file = File.OpenHandle(path))
            {
                ParallelRead.Run(file, pieces, hash, new ProgressCounter(reports, intoFirst + last.numel()));
            }

            Assert.Equal(XxHash3.Hash(data[..(intoFirst + hashedOnly)].Concat(data[gapEnd..]).ToArray()), hash.GetCurrentHash());
            Assert.Equal(data[..intoFirst], first.bytes.ToArray());
            Assert.Equal(data[gapEnd..], last.bytes.ToArray());
            // Progress counts the bytes read into memory, told by one thread at a time, so that it only grows.
            Assert.Equal(0, reports.Overlaps);
            Assert.Equal(reports.Values.Order(), reports.Values);
            Assert.Equal(intoFirst + last.numel(), reports.Values[^1]);
        }
    }

    [Fact]
    public void The_calling_thread_alone_reads_and_hashes_the_same()
    {
        var (path, data) = RandomFile((3 << 20) + 11, seed: 5);
        using var memory = empty(data.Length, ScalarType.Byte);
        var pieces = new List<FilePiece>();
        TensorBytes.AddPieces(pieces, 0, memory);
        var hash = new Xxh3();
        var reports = new OverlapCountingProgress();

        using (var file = File.OpenHandle(path))
        {
            ParallelRead.Run(file, pieces, hash, new ProgressCounter(reports, data.Length), twoThreads: false);
        }

        Assert.Equal(XxHash3.Hash(data), hash.GetCurrentHash());
        Assert.Equal(data, memory.bytes.ToArray());
        Assert.Equal(reports.Values.Order(), reports.Values);
        Assert.Equal(data.Length, reports.Values[^1]);
    }

    [Fact]
    public void A_second_thread_woken_ahead_joins_the_read_and_one_woken_for_nothing_goes_back_to_sleep()
    {
        if (Environment.ProcessorCount < 2)
        {
            return;
        }
        var (path, data) = RandomFile(8 << 20, seed: 9);
        using var memory = empty(data.Length, ScalarType.Byte);
        var pieces = new List<FilePiece>();
        TensorBytes.AddPieces(pieces, 0, memory);
        var readers = new HashSet<int>();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            // Given a header to read ahead of a read that never comes (a load refused before its read), and another:
            // it must still take the next read.
            SecondThreadTask<int>.Start(() => 0, offer: true, readFollows: true).Join();
            Thread.Sleep(attempt % 2 == 0 ? 20 : 0);
            SecondThreadTask<int>.Start(() => 0, offer: true, readFollows: true).Join();
            memory.bytes.Clear();
            var hash = new Xxh3();
            var reports = new ThreadRecordingProgress();
            using (var file = File.OpenHandle(path))
            {
                ParallelRead.Run(file, pieces, hash, new ProgressCounter(reports, data.Length));
            }

            Assert.Equal(XxHash3.Hash(data), hash.GetCurrentHash());
            Assert.Equal(data, memory.bytes.ToArray());
            readers.UnionWith(reports.Threads);
        }
        Assert.Equal(2, readers.Count);
    }

    [Fact]
    public void A_file_that_ends_before_its_pieces_fails_with_end_of_stream()
    {
        var (path, data) = RandomFile(1 << 20, seed: 7);
        using var memory = empty(2 << 20, ScalarType.Byte);
        var pieces = new List<FilePiece>();
        TensorBytes.AddPieces(pieces, 0, memory);

        using var file = File.OpenHandle(path);
        Assert.Throws<EndOfStreamException>(() => ParallelRead.Run(file, pieces, new Xxh3(), progress: null));
        Assert.Equal(data, memory.bytes[..data.Length].ToArray());
    }

    private (string Path, byte[] Data) RandomFile(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        var path = folder.File($"data-{seed}.bin");
        File.WriteAllBytes(path, data);
        return (path, data);
    }

    /// <summary>Records which threads reported progress: each reports the bytes it read into memory.</summary>
    internal sealed class ThreadRecordingProgress : IProgress<CheckpointProgress>
    {
        private readonly HashSet<int> threads = [];

        public IReadOnlyCollection<int> Threads
        {
            get
            {
                lock (threads)
                {
                    return threads.ToList();
                }
            }
        }

        public void Report(CheckpointProgress value)
        {
            lock (threads)
            {
                threads.Add(Environment.CurrentManagedThreadId);
            }
        }
    }

    /// <summary>Records the values reported, and how often a report began while another was under way.</summary>
    private sealed class OverlapCountingProgress : IProgress<CheckpointProgress>
    {
        private int inReport;

        public List<long> Values { get; } = [];

        public int Overlaps { get; private set; }

        public void Report(CheckpointProgress value)
        {
            if (Interlocked.Increment(ref inReport) > 1)
            {
                Overlaps++;
            }
            // Long enough for a report from the other thread to run into this one, were reports not one at a time.
            Thread.SpinWait(20_000);
            Values.Add(value.BytesDone);
            Interlocked.Decrement(ref inReport);
        }
    }
}
