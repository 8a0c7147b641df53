using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using CheckpointGen.Format;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace CheckpointGen.Benchmarks;

/// <summary>
/// One table, one process: CheckpointGen's save and load beside TorchSharp's (whole model, and with the frozen keys
/// skipped), TorchSharp.PyBridge's safetensors and a raw write and read of the same bytes, for frozen:trainable of 9:1
/// and 27:1 with a 67 MB trainable part; then the goals, PASS or FAIL.
/// </summary>
public static class QuickBenchmark
{
    private const long Width = 4096;

    private sealed record Config(int FrozenLayers, long TrainableBytes, Dictionary<string, double> Milliseconds, Dictionary<string, (double Min, double Max)> Spread, Dictionary<string, long> FileBytes, long? PeakExtraBytes);

    /// <summary>One operation's median time in the series, for the model with the smaller and the larger frozen part.</summary>
    private sealed record SeriesMedians(string Operation, double Small, double Large);

    /// <summary>
    /// Rounds of the series: enough that the two medians' noise stays well under the 5 % being judged (with 60,
    /// the flushed saves' medians still differed by up to 6 % in one run of ten, where a save to a stream differs by 4 % of its 5 ms).
    /// </summary>
    private const int SeriesRounds = 150;

    private const string Save = "CheckpointGen SaveCheckpoint";
    private const string Load = "CheckpointGen LoadCheckpoint";
    private const string RawWrite = "raw write + flush";
    private const string PyBridgeSave = "PyBridge save_safetensors + flush";
    private const string RawRead = "raw read";

    /// <summary>
    /// The operations of the series: ours, and the baselines their ratio goals compare them with, which are
    /// judged there too, each round's operations back to back, since the table's medians of rows measured apart move by
    /// more than the distance to a goal (a flushed save on this disk by ±10 ms and more).
    /// </summary>
    private static readonly string[] SeriesOperations = [Save, StreamSave, RawWrite, PyBridgeSave, Load, RawRead];

    /// <summary>The operations whose growth with the frozen part is a goal: CheckpointGen's save and load.</summary>
    private static readonly string[] GrowthJudged = [Save, Load];

    /// <summary>A save without the disk: what of a save's time could grow with the frozen part, without the flush's noise.</summary>
    private const string StreamSave = "CheckpointGen SaveCheckpoint to a stream (no disk)";

    private sealed record Goal(string Name, string Measured, bool Pass);

    public static int Run(string folder, int repetitions)
    {
        manual_seed(0);
        var models = new[] { 9, 27 }.Select(layers => new BenchModel(layers, Width)).ToArray();
        try
        {
            var (configs, series) = Measure(models, folder, repetitions);
            PrintTable(configs);
            PrintSeries(models, series);
            PrintOneTimeHash(models[^1]);
            var goals = Goals(configs, series);
            Console.WriteLine();
            Console.WriteLine("| goal | measured | result |");
            Console.WriteLine("| --- | --- | --- |");
            foreach (var goal in goals)
            {
                Console.WriteLine($"| {goal.Name} | {goal.Measured} | {(goal.Pass ? "PASS" : "FAIL")} |");
            }
            return goals.All(g => g.Pass) ? 0 : 1;
        }
        finally
        {
            foreach (var model in models)
            {
                model.Dispose();
            }
        }
    }

    private sealed record Operation(string Name, string File, bool Context, Action Run, Action? Before = null)
    {
        /// <summary>A load or read: it starts with its file in the page cache, as every read of the table does.</summary>
        public bool Reads => Name.Contains("load", StringComparison.OrdinalIgnoreCase) || Name.Contains("read", StringComparison.Ordinal);
    }

    /// <summary>
    /// Repetitions interleave every operation of every model, each after the disk has settled, so that a disturbance
    /// lands on all alike; then the series (<see cref="MeasureSeries"/>). The whole-model rows are context, not
    /// goals: they run last, twice, since their gigabytes of writes would disturb everything measured after them.
    /// </summary>
    private static (Config[] Configs, List<SeriesMedians> Series) Measure(BenchModel[] models, string folder, int repetitions)
    {
        var operations = models.ToDictionary(m => m, m => Operations(m, folder));
        var times = operations.Values.SelectMany(o => o).ToDictionary(o => o, _ => new List<double>());
        void Time(Operation operation, bool keep)
        {
            var milliseconds = Timed(operation);
            if (keep)
            {
                times[operation].Add(milliseconds);
            }
        }
        for (var repetition = 0; repetition <= repetitions; repetition++)
        {
            foreach (var operation in operations.Values.SelectMany(o => o).Where(o => !o.Context))
            {
                Time(operation, keep: repetition > 0);
            }
        }
        // The worst case: a load that finds no memory kept by an earlier one.
        var peaks = models.ToDictionary(m => m, m =>
        {
            var load = operations[m].First(o => o.Name == FreshLoad);
            load.Before!();
            return PeakMemory.ExtraDuring(load.Run);
        });
        var series = MeasureSeries(operations[models[0]], operations[models[^1]]);
        for (var repetition = 0; repetition < 2; repetition++)
        {
            foreach (var operation in operations.Values.SelectMany(o => o).Where(o => o.Context))
            {
                Time(operation, keep: true);
            }
        }
        var configs = models.Select(m => new Config(
            m.FrozenLayers,
            m.TrainableBytes(),
            operations[m].ToDictionary(o => o.Name, o => Statistics.Median(times[o])),
            operations[m].ToDictionary(o => o.Name, o => (times[o].Min(), times[o].Max())),
            operations[m].ToDictionary(o => o.Name, o => new FileInfo(o.File).Length),
            peaks[m])).ToArray();
        return (configs, series);
    }

    /// <summary>Runs <paramref name="operation"/> once, from the same state as every other: no garbage or finalizers of the previous one pending, the disk idle, a file to read in the page cache.</summary>
    private static double Timed(Operation operation)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        operation.Before?.Invoke();
        Disk.Settle();
        if (operation.Reads)
        {
            Disk.Warm(operation.File);
        }
        var clock = Stopwatch.StartNew();
        operation.Run();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// The growth goals judge a difference of a few percent between the two models, less than a row's median moves
    /// between runs of the table (the disk's flush alone moves a save by ±10 ms, and the other rows run between the two
    /// models' turns). So they get a series of their own: each round times the two models' <see cref="SeriesOperations"/>,
    /// each pair back to back, in the order small-large and large-small by turns, so that a drift lands on both alike.
    /// The ratio goals of an operation to its baseline are judged on the same series.
    /// </summary>
    private static List<SeriesMedians> MeasureSeries(Operation[] small, Operation[] large)
    {
        var pairs = SeriesOperations
            .Select(name => (Small: small.Single(o => o.Name == name), Large: large.Single(o => o.Name == name), SmallTimes: new List<double>(), LargeTimes: new List<double>()))
            .ToList();
        // The operations run in a new order each round, so that each follows each of the others alike: in a fixed order,
        // loads right after flushed saves took 6.4 ms in one run where loads after saves to a stream had taken 5.5-5.8 ms
        // (the disk's work after a flush takes a core for a while, and the load's second thread with it), while a raw
        // read, on one thread, was no slower after a flushed save (5.3 against 5.0-5.6 ms in a scratch harness).
        var random = new Random(0);
        var order = pairs.ToArray();
        for (var round = 0; round <= SeriesRounds; round++)
        {
            random.Shuffle(order);
            foreach (var pair in order)
            {
                var smallFirst = round % 2 == 0;
                var firstTime = Timed(smallFirst ? pair.Small : pair.Large);
                var secondTime = Timed(smallFirst ? pair.Large : pair.Small);
                if (round > 0)
                {
                    pair.SmallTimes.Add(smallFirst ? firstTime : secondTime);
                    pair.LargeTimes.Add(smallFirst ? secondTime : firstTime);
                }
            }
        }
        return pairs.Select(pair => new SeriesMedians(pair.Small.Name, Statistics.Median(pair.SmallTimes), Statistics.Median(pair.LargeTimes))).ToList();
    }

    /// <summary>A load that finds no memory an earlier load left for it (the first loads of a process), so it reads into fresh pages.</summary>
    private const string FreshLoad = "CheckpointGen LoadCheckpoint, no memory kept (first loads of a process)";

    private static Operation[] Operations(BenchModel model, string folder)
    {
        var skip = model.PretrainedKeys();
        var trainable = RawBytes.Trainable(model);
        var memory = new MemoryStream();
        string File(string name) => Path.Combine(folder, $"{model.FrozenLayers}-{name}");
#pragma warning disable CKPT020 // TorchSharp's own load is a baseline here.
        // Every save is flushed to disk, as SaveCheckpoint's is.
        return
        [
            new(Save, File("checkpointgen.safetensors"), false, () => model.SaveCheckpoint(File("checkpointgen.safetensors"))),
            new(StreamSave, File("checkpointgen.safetensors"), false, () =>
            {
                memory.Position = 0;
                model.SaveCheckpoint(memory);
            }),
            new(RawWrite, File("raw.bin"), false, () => RawBytes.Write(File("raw.bin"), trainable)),
            new("raw write + early writeback + flush", File("raw-writeback.bin"), false, () => RawBytes.WriteWithEarlyWriteback(File("raw-writeback.bin"), trainable)),
            new("TorchSharp save, frozen skipped, + flush", File("torchsharp-skip.dat"), false, () => FlushedSaves.TorchSharp(File("torchsharp-skip.dat"), model, skip)),
            new(PyBridgeSave, File("pybridge.safetensors"), false, () => FlushedSaves.PyBridge(File("pybridge.safetensors"), model, skip)),
            new(Load, File("checkpointgen.safetensors"), false, () => model.LoadCheckpoint(File("checkpointgen.safetensors"))),
            new(FreshLoad, File("checkpointgen.safetensors"), false, () => model.LoadCheckpoint(File("checkpointgen.safetensors")), StagingMemory.ReleaseKept),
            new(RawRead, File("raw.bin"), false, () => RawBytes.Read(File("raw.bin"), trainable)),
            new("TorchSharp load, frozen skipped", File("torchsharp-skip.dat"), false, () => model.load(File("torchsharp-skip.dat"), strict: false, skip)),
            new("PyBridge load_safetensors", File("pybridge.safetensors"), false, () => model.load_safetensors(File("pybridge.safetensors"), strict: false, skip)),
            new("TorchSharp save, whole model, + flush", File("torchsharp-full.dat"), true, () => FlushedSaves.TorchSharp(File("torchsharp-full.dat"), model)),
            new("TorchSharp load, whole model", File("torchsharp-full.dat"), true, () => model.load(File("torchsharp-full.dat"))),
        ];
#pragma warning restore CKPT020
    }

    private static void PrintTable(Config[] configs)
    {
        // The median of the repetitions, with their spread: the goals must hold in a typical run, not only in the best one.
        Console.WriteLine($"| frozen:trainable | operation | median time (ms) | min–max (ms) | file (MB) | time / CheckpointGen's |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var config in configs)
        {
            foreach (var (name, milliseconds) in config.Milliseconds)
            {
                var ours = config.Milliseconds[name.Contains("load", StringComparison.OrdinalIgnoreCase) || name == RawRead ? Load : Save];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {config.FrozenLayers}:1 | {name} | {milliseconds:F1} | {config.Spread[name].Min:F1}–{config.Spread[name].Max:F1} | {config.FileBytes[name] / 1e6:F1} | {milliseconds / ours:F2} |"));
            }
        }
    }

    private static void PrintSeries(BenchModel[] models, List<SeriesMedians> series)
    {
        Console.WriteLine();
        Console.WriteLine($"| series ({SeriesRounds} rounds, the two models back to back) | {models[0].FrozenLayers}:1 median (ms) | {models[^1].FrozenLayers}:1 median (ms) | change |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        foreach (var g in series)
        {
            Console.WriteLine(F($"| {g.Operation} | {g.Small:F2} | {g.Large:F2} | {(g.Large - g.Small) / g.Small:+0.0 %;-0.0 %} |"));
        }
    }

    /// <summary>
    /// What the first save or load after the frozen part changed pays once: hashing its weights (later ones only ask
    /// PyTorch's version counters whether they changed).
    /// </summary>
    private static void PrintOneTimeHash(BenchModel model)
    {
        var frozen = model.state_dict().Where(e => e.Key.StartsWith("frozen.", StringComparison.Ordinal)).ToList();
        var bytes = frozen.Sum(e => e.Value.numel() * e.Value.element_size());
        var clock = Stopwatch.StartNew();
        _ = CheckpointMetadata.ContentFingerprint(frozen);
        var elapsed = clock.Elapsed.TotalMilliseconds;
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"One-time hash of the frozen part ({model.FrozenLayers}:1, {bytes / 1e6:F0} MB): {elapsed:F0} ms ({bytes / 1e6 / elapsed:F1} GB/s); paid once per process while the part is unchanged."));
    }

    private static List<Goal> Goals(Config[] configs, List<SeriesMedians> series)
    {
        var goals = new List<Goal>();
        // The series ran the first and the last model.
        double Series(Config config, string operation)
        {
            var medians = series.Single(g => g.Operation == operation);
            return config == configs[0] ? medians.Small : medians.Large;
        }
        foreach (var c in configs)
        {
            var t = c.Milliseconds;
            var ratio = $"{c.FrozenLayers}:1";
            var size = c.FileBytes[Save];
            var sizeLimit = c.TrainableBytes * 1.001 + 64 * 1024;
            goals.Add(new($"{ratio} checkpoint bytes ≤ trainable bytes × 1.001 + 64 KiB", F($"{size:N0} ≤ {sizeLimit:N0}"), size <= sizeLimit));
            goals.Add(Ratio($"{ratio} SaveCheckpoint ≤ 1.1 × raw write (series)", Series(c, Save), Series(c, RawWrite), 1.1));
            goals.Add(Ratio($"{ratio} LoadCheckpoint ≤ 1.0 × TorchSharp load (frozen skipped)", t[Load], t["TorchSharp load, frozen skipped"], 1.0));
            goals.Add(Ratio($"{ratio} LoadCheckpoint ≤ 1.2 × raw read (series)", Series(c, Load), Series(c, RawRead), 1.2));
            goals.Add(Ratio($"{ratio} SaveCheckpoint faster than PyBridge save_safetensors (both flushed; series)", Series(c, Save), Series(c, PyBridgeSave), 1.0, strict: true));
            goals.Add(Ratio($"{ratio} LoadCheckpoint faster than PyBridge load_safetensors", t[Load], t["PyBridge load_safetensors"], 1.0, strict: true));
            var limit = c.TrainableBytes + 16L * 1024 * 1024;
            goals.Add(c.PeakExtraBytes is { } peak
                ? new($"{ratio} peak extra memory during LoadCheckpoint ≤ trainable bytes + 16 MiB", F($"{peak / 1e6:F1} MB ≤ {limit / 1e6:F1} MB"), peak <= limit)
                : new($"{ratio} peak extra memory during LoadCheckpoint", "not measurable off Linux", false));
        }
        foreach (var g in series.Where(g => GrowthJudged.Contains(g.Operation)))
        {
            var change = Math.Abs(g.Large - g.Small) / g.Small;
            goals.Add(new($"{g.Operation}: tripling the frozen part changes the time by < 5 % (series)", F($"{g.Small:F1} → {g.Large:F1} ms ({change:P1})"), change < 0.05));
        }
        return goals;
    }

    private static Goal Ratio(string name, double ours, double baseline, double limit, bool strict = false)
        => new(name, F($"{ours:F1} / {baseline:F1} ms = {ours / baseline:F2}"), strict ? ours < baseline * limit : ours <= baseline * limit);

    private static string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

}
