using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Threading;
using CheckpointGen.Format;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Work handed to the second thread: run once, by whichever thread gets to it, its result or exception where the caller waits.</summary>
public sealed class SecondThreadTests
{
    private const string SecondThreadName = "CheckpointGen second reader";

    [Fact]
    public void Work_the_second_thread_takes_hands_back_its_result_and_its_exception()
    {
        if (!SecondThread.Available)
        {
            return;
        }
        // The thread takes offered work within microseconds once awake; a few attempts cover a slow wake.
        var ranOn = Enumerable.Range(0, 50).Select(_ =>
        {
            var task = SecondThreadTask<string?>.Start(() => Thread.CurrentThread.Name, offer: true, readFollows: false);
            Thread.Sleep(10);
            return task.Join();
        }).ToList();
        Assert.Contains(SecondThreadName, ranOn);

        var failed = SecondThreadTask<int>.Start(() => throw new CheckpointFormatException("x.safetensors", "its header is cut short."), offer: true, readFollows: false);
        Thread.Sleep(10);
        var error = Assert.Throws<CheckpointFormatException>(() => failed.Join());
        Assert.Contains("its header is cut short.", error.Message);
    }

    [Fact]
    public void Work_not_offered_or_not_taken_yet_runs_on_the_caller_once()
    {
        var runs = 0;
        var task = SecondThreadTask<string?>.Start(() => { Interlocked.Increment(ref runs); return Thread.CurrentThread.Name; }, offer: false, readFollows: false);
        Thread.Sleep(10);
        Assert.Equal(Thread.CurrentThread.Name, task.Join());
        Assert.Equal(1, runs);

        // Joined at once: run by one thread or the other, never both, never neither.
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var once = 0;
            var raced = SecondThreadTask<int>.Start(() => Interlocked.Increment(ref once), offer: true, readFollows: attempt % 2 == 0);
            Assert.Equal(1, raced.Join());
            Thread.Sleep(attempt % 10 == 0 ? 6 : 0);
            Assert.Equal(1, once);
        }
    }

    [Fact]
    public void Forgotten_work_does_not_start_if_it_has_not_and_is_waited_for_if_it_has()
    {
        var runs = 0;
        SecondThreadTask<int>.Start(() => Interlocked.Increment(ref runs), offer: false, readFollows: false).Forget();
        Thread.Sleep(20);
        Assert.Equal(0, runs);
        if (!SecondThread.Available)
        {
            return;
        }

        var started = false;
        for (var attempt = 0; attempt < 50 && !started; attempt++)
        {
            var finished = false;
            var task = SecondThreadTask<int>.Start(() =>
            {
                Volatile.Write(ref started, true);
                Thread.Sleep(50);
                Volatile.Write(ref finished, true);
                return 0;
            }, offer: true, readFollows: false);
            Thread.Sleep(10);
            task.Forget();
            // Started by the second thread, it had finished by the time Forget returned; else it never runs.
            Assert.Equal(Volatile.Read(ref started), Volatile.Read(ref finished));
        }
        Assert.True(started);
    }

    [Fact]
    public void Work_done_by_the_second_thread_leaves_it_free_for_the_next_offer_by_the_time_the_caller_has_the_result()
    {
        if (!SecondThread.Available)
        {
            return;
        }
        var takenByTheThread = 0;
        for (var attempt = 0; attempt < 100 && takenByTheThread < 10; attempt++)
        {
            var task = SecondThreadTask<string?>.Start(() => Thread.CurrentThread.Name, offer: true, readFollows: true);
            Thread.Sleep(2);
            if (task.Join() != SecondThreadName)
            {
                continue;
            }
            takenByTheThread++;
            var next = SecondThreadTask<int>.Start(() => 0, offer: false, readFollows: false);
            Assert.True(SecondThread.TryOffer(next), "the finished work still held the second thread's slot");
            next.Forget();
        }
        Assert.True(takenByTheThread > 0);
    }

    [Fact]
    public void A_read_offered_after_work_that_a_read_follows_gets_the_second_thread()
    {
        if (!SecondThread.Available)
        {
            return;
        }
        using var folder = new TempFolder();
        var data = new byte[8 << 20];
        new Random(4).NextBytes(data);
        var path = folder.File("data.bin");
        File.WriteAllBytes(path, data);
        using var memory = empty(data.Length, ScalarType.Byte);
        var pieces = new List<FilePiece>();
        TensorBytes.AddPieces(pieces, 0, memory);

        var readers = new HashSet<int>();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var header = SecondThreadTask<int>.Start(() => 0, offer: true, readFollows: true);
            Thread.Sleep(2);
            header.Join();
            var hash = new Xxh3();
            var reports = new ParallelReadTests.ThreadRecordingProgress();
            using (var file = File.OpenHandle(path))
            {
                ParallelRead.Run(file, pieces, hash, new ProgressCounter(reports, data.Length));
            }
            Assert.Equal(XxHash3.Hash(data), hash.GetCurrentHash());
            readers.UnionWith(reports.Threads);
        }
        Assert.Equal(2, readers.Count);
    }

    [Fact]
    public void Each_wake_keeps_the_second_thread_off_the_core_of_the_thread_that_woke_it()
    {
        if (!OperatingSystem.IsLinux() || Environment.ProcessorCount < 2)
        {
            return;
        }
        var allowed = Cores(CoresAllowed("thread-self"));
        if (allowed.Count < 2)
        {
            return;
        }
        var everyCore = Mask(allowed);
        try
        {
            foreach (var core in allowed.Take(2))
            {
                // Woken from this core (by work offered), it must be placed elsewhere; a wake while it is still awake
                // (from another test's load, or the last attempt) places nothing, so attempts go on, a sleep apart,
                // until one lands.
                Assert.Equal(0, sched_setaffinity(0, everyCore.Length * sizeof(ulong), Mask([core])));
                var deadline = DateTime.UtcNow.AddSeconds(10);
                var keptOff = false;
                while (!keptOff && DateTime.UtcNow < deadline)
                {
                    SecondThreadTask<int>.Start(() => 0, offer: true, readFollows: false).Forget();
                    var task = Directory.GetDirectories("/proc/self/task").SingleOrDefault(t => File.ReadAllText(Path.Combine(t, "comm")).Trim() == "CheckpointGen s");
                    keptOff = task is not null && Cores(CoresAllowed(task)) is var cores && cores.Count > 0 && !cores.Contains(core);
                    Thread.Sleep(20);
                }
                Assert.True(keptOff, $"woken from core {core}, the second thread may still run there");
            }
        }
        finally
        {
            sched_setaffinity(0, everyCore.Length * sizeof(ulong), everyCore);
        }
    }

    private static string CoresAllowed(string task)
        => File.ReadLines(Path.Combine(task.StartsWith('/') ? task : $"/proc/{task}", "status")).Single(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));

    /// <summary>The cores of a <c>Cpus_allowed_list</c> line: "0-3,6".</summary>
    private static List<int> Cores(string line)
        => line.Split(':')[1].Trim().Split(',', StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(range => range.Split('-') is [var from, var to] ? Enumerable.Range(int.Parse(from), int.Parse(to) - int.Parse(from) + 1) : [int.Parse(range)])
            .ToList();

    private static ulong[] Mask(IEnumerable<int> cores)
    {
        var mask = new ulong[16];
        foreach (var core in cores)
        {
            mask[core / 64] |= 1UL << (core % 64);
        }
        return mask;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int sched_setaffinity(int thread, nint size, ulong[] mask);

    [Fact]
    public void A_model_that_cannot_load_is_named_before_a_file_that_cannot_be_read_and_the_file_is_left_closed()
    {
        using var folder = new TempFolder();
        var path = folder.File("not-a-checkpoint.safetensors");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, (byte)'{']);
        using var tied = new TiedLanguageModel();

        var error = Assert.Throws<InvalidOperationException>(() => tied.LoadCheckpoint(path));

        Assert.Contains("shares its memory with the pretrained 'embedding.weight'", error.Message);
        using (File.Open(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
        }
        File.Delete(path);
    }
}
