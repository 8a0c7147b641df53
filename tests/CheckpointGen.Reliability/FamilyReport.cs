using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;

namespace CheckpointGen.Reliability;

/// <summary>
/// What a run of one fuzzing family saw: every case's outcome by kind, and the counts that must stay at zero: exceptions
/// other than the documented ones, models (or optimizers) changed by a refused load, loads that succeeded with a state the
/// file does not hold, files left open, crashes of the loading process and loads slower than <see cref="HangLimit"/>.
/// </summary>
public sealed class FamilyReport(string family)
{
    /// <summary>A load taking longer than this counts as a hang: refusals are due within a second or two.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(2);

    private readonly Stopwatch wall = Stopwatch.StartNew();

    public string Family { get; } = family;

    public int Cases { get; private set; }

    public SortedDictionary<string, int> Outcomes { get; } = new(StringComparer.Ordinal);

    public int Unexpected { get; set; }

    public int Changed { get; set; }

    public int Illegitimate { get; set; }

    public int LeftOpen { get; set; }

    public int Crashes { get; set; }

    public int Hangs { get; set; }

    public TimeSpan Slowest { get; private set; }

    public TimeSpan Wall { get; private set; }

    public List<string> Failures { get; } = [];

    /// <summary>What the run measured beside the outcomes (how often the file was rewritten, the most a case allocated).</summary>
    public List<string> Notes { get; } = [];

    public bool Clean => Unexpected + Changed + Illegitimate + LeftOpen + Crashes + Hangs == 0;

    /// <summary>Counts a case: its outcome and how long its load took (the first one pays for compilation and is not timed).</summary>
    public void Count(string outcome, TimeSpan took)
    {
        Outcomes[outcome] = Outcomes.GetValueOrDefault(outcome) + 1;
        if (Cases++ > 0)
        {
            Slowest = took > Slowest ? took : Slowest;
            if (took > HangLimit)
            {
                Hangs++;
            }
        }
    }

    /// <summary>The outcome of a load that threw <paramref name="error"/>: the documented exceptions by type, anything else unexpected.</summary>
    public string Classify(Exception error, string description, bool ioIsDocumented = false)
    {
        switch (error)
        {
            case CheckpointFormatException:
                return "refused: not a valid checkpoint";
            case CheckpointMismatchException:
                return "refused: does not fit the model";
            case IOException when ioIsDocumented:
                return "I/O error";
            default:
                Unexpected++;
                Fail($"{description}: {error.GetType().Name}: {error.Message}");
                return "unexpected " + error.GetType().Name;
        }
    }

    public void Fail(string failure)
    {
        if (Failures.Count < 100)
        {
            Failures.Add(failure);
        }
    }

    /// <summary>Adds a child run's counts (the in-place race runs in child processes).</summary>
    public void Add(FamilyReport other)
    {
        foreach (var (outcome, count) in other.Outcomes)
        {
            Outcomes[outcome] = Outcomes.GetValueOrDefault(outcome) + count;
        }
        Cases += other.Cases;
        Unexpected += other.Unexpected;
        Changed += other.Changed;
        Illegitimate += other.Illegitimate;
        LeftOpen += other.LeftOpen;
        Crashes += other.Crashes;
        Hangs += other.Hangs;
        Slowest = other.Slowest > Slowest ? other.Slowest : Slowest;
        other.Failures.ForEach(Fail);
        Notes.AddRange(other.Notes);
    }

    public FamilyReport Finish()
    {
        Wall = wall.Elapsed;
        return this;
    }

    public override string ToString()
        => $"{Family}: {Cases} cases: {string.Join(", ", Outcomes.Select(o => $"{o.Value} {o.Key}"))}; " +
           $"{Unexpected} unexpected exceptions, {Changed} models changed by a refused load, {Illegitimate} illegitimate loads, " +
           $"{LeftOpen} files left open, {Crashes} crashes, {Hangs} hangs; slowest load {Slowest.TotalMilliseconds:F1} ms; wall time {Wall.TotalSeconds:F1} s" +
           string.Concat(Notes.Select(n => "; " + n));

    /// <summary>One line a parent process can read back (see <see cref="Parse"/>).</summary>
    public string ToLine()
        => string.Join('\t', new object[] { "report", Cases, Unexpected, Changed, Illegitimate, LeftOpen, Crashes, Hangs, Slowest.Ticks }
            .Concat(Outcomes.Select(o => $"{o.Key}={o.Value}")));

    public static FamilyReport Parse(string family, string line)
    {
        var parts = line.Split('\t');
        var report = new FamilyReport(family)
        {
            Unexpected = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture),
            Changed = int.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture),
            Illegitimate = int.Parse(parts[4], System.Globalization.CultureInfo.InvariantCulture),
            LeftOpen = int.Parse(parts[5], System.Globalization.CultureInfo.InvariantCulture),
            Crashes = int.Parse(parts[6], System.Globalization.CultureInfo.InvariantCulture),
            Hangs = int.Parse(parts[7], System.Globalization.CultureInfo.InvariantCulture),
        };
        report.Cases = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        report.Slowest = TimeSpan.FromTicks(long.Parse(parts[8], System.Globalization.CultureInfo.InvariantCulture));
        foreach (var outcome in parts.Skip(9).Select(p => p.Split('=')))
        {
            report.Outcomes[outcome[0]] = int.Parse(outcome[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return report;
    }
}
