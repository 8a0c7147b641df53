using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Benchmarks;

/// <summary>
/// How long a training loop stalls in <see cref="CheckpointManager.Save"/> with <c>Async = true</c>, against a
/// synchronous save, for a 64 MB and a 1 GB trainable part; then the same saves inside a loop of matrix products, where the
/// background write competes with the training for the cores.
/// </summary>
public static class AsyncBenchmark
{
    private sealed record Size(string Name, long Width);

    private static readonly Size[] Sizes = [new("64 MB", 4096), new("1 GB", 16384)];

    private sealed record Result(string Size, long Bytes, List<double> Sync, double FirstAsync, List<double> Async, Loop Loop);

    private sealed record Loop(int StepsBetweenSaves, int Saves, double StepMilliseconds, double None, double Sync, double Async);

    public static int Run(string folder, int repetitions)
    {
        var results = new List<Result>();
        foreach (var size in Sizes)
        {
            manual_seed(0);
            using var model = new BenchModel(frozenLayers: 1, size.Width);
            results.Add(Measure(model, size, Path.Combine(folder, size.Width.ToString(CultureInfo.InvariantCulture)), repetitions));
        }

        Console.WriteLine($"| trainable | synchronous Save, median (best) | asynchronous Save: first | asynchronous Save: later, median (best) | stall / synchronous save (medians) | goal ≤ 0.5 |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | --- |");
        foreach (var r in results)
        {
            var ratio = Statistics.Median(r.Async) / Statistics.Median(r.Sync);
            Console.WriteLine(F($"| {r.Size} ({r.Bytes / 1e6:F0} MB) | {Statistics.Median(r.Sync):F1} ms ({r.Sync.Min():F1}) | {r.FirstAsync:F1} ms | {Statistics.Median(r.Async):F1} ms ({r.Async.Min():F1}) | {ratio:F3} | {(ratio <= 0.5 ? "PASS" : "FAIL")} |"));
        }
        Console.WriteLine();
        Console.WriteLine("| trainable | loop: steps between saves × saves | step | loop without saves | with synchronous saves | with asynchronous saves | time added per save: synchronous | asynchronous | ratio |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
        {
            var l = r.Loop;
            var (sync, async) = ((l.Sync - l.None) / l.Saves, (l.Async - l.None) / l.Saves);
            Console.WriteLine(F($"| {r.Size} | {l.StepsBetweenSaves} × {l.Saves} | {l.StepMilliseconds:F1} ms | {l.None:F0} ms | {l.Sync:F0} ms | {l.Async:F0} ms | {sync:F1} ms | {async:F1} ms | {async / sync:F3} |"));
        }
        return results.All(r => Statistics.Median(r.Async) / Statistics.Median(r.Sync) <= 0.5) ? 0 : 1;
    }

    private static Result Measure(BenchModel model, Size size, string folder, int repetitions)
    {
        var sync = new List<double>();
        var async = new List<double>();
        double first;
        var options = new CheckpointManagerOptions { KeepLast = 1 };
        using (var manager = new CheckpointManager(model, Path.Combine(folder, "sync"), options))
        {
            for (var step = 0; step <= repetitions; step++)
            {
                var time = Time(() => manager.Save(step));
                if (step > 0)
                {
                    sync.Add(time);
                }
            }
        }
        using (var manager = new CheckpointManager(model, Path.Combine(folder, "async"), options with { Async = true }))
        {
            first = Time(() => manager.Save(0));
            for (var step = 1; step <= repetitions; step++)
            {
                // The previous save is complete and the disk idle: what is timed is the stall of Save alone.
                manager.WaitForSaves();
                async.Add(Time(() => manager.Save(step)));
            }
        }
        return new Result(size.Name, model.TrainableBytes(), sync, first, async, MeasureLoop(model, folder, sync.Min()));
    }

    /// <summary>
    /// A loop of matrix products on both cores with a save every K steps, K chosen so that the steps between two saves take
    /// about 1.5 times the best synchronous save: time over the loop without saves, per save. The loop ends K steps after
    /// its last save and waits for the background save to be complete. The three loops run in turn, three rounds; the best
    /// of each counts, since on a shared machine noise only adds time.
    /// </summary>
    private static Loop MeasureLoop(BenchModel model, string folder, double syncSave)
    {
        using var a = randn(1024, 1024);
        using var b = randn(1024, 1024);
        void Step()
        {
            using var product = a.matmul(b);
        }
        Step();
        var stepTime = Enumerable.Range(0, 5).Select(_ => Time(Step)).Min();
        var between = (int)Math.Ceiling(1.5 * syncSave / stepTime);
        const int Saves = 3;
        double Run(CheckpointManager? manager)
        {
            GC.Collect();
            Disk.Settle();
            var clock = Stopwatch.StartNew();
            for (var step = 1; step <= between * (Saves + 1); step++)
            {
                Step();
                if (step % between == 0 && step <= between * Saves)
                {
                    manager?.Save(step);
                }
            }
            manager?.WaitForSaves();
            return clock.Elapsed.TotalMilliseconds;
        }
        using var sync = new CheckpointManager(model, Path.Combine(folder, "loop-sync"), new CheckpointManagerOptions { KeepLast = 1 });
        using var async = new CheckpointManager(model, Path.Combine(folder, "loop-async"), new CheckpointManagerOptions { KeepLast = 1, Async = true });
        // One save first, so that the staging memory exists, as in a loop past its first checkpoint.
        async.Save(0);
        async.WaitForSaves();
        var times = Enumerable.Range(0, 3).Select(_ => (None: Run(null), Sync: Run(sync), Async: Run(async))).ToList();
        return new Loop(between, Saves, stepTime, times.Min(t => t.None), times.Min(t => t.Sync), times.Min(t => t.Async));
    }

    private static double Time(Action action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Disk.Settle();
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
