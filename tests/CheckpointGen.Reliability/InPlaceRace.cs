using System;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace CheckpointGen.Reliability;

/// <summary>
/// A checkpoint rewritten in place while it loads, the way <c>cp</c>, <c>rsync --inplace</c> or Python's
/// <c>safetensors.save_file</c> rewrite a file: truncated, then written again in pieces, alternately with two versions of
/// different lengths (and sometimes left half-written for a while). Meanwhile <c>LoadCheckpoint(path)</c> runs in a loop.
/// Each load must either succeed with one version's content, whole, or throw CheckpointFormatException or IOException,
/// leaving the model as it was; and the process must never die. The loop runs in a child process, so that a death
/// (SIGBUS from a mapped page, an access violation) is counted instead of ending the run.
/// </summary>
public static class InPlaceRace
{
    private const int Features = 256;

    /// <summary>The parent: runs the loads in a child process and reads its report back; a child that dies counts as a crash.</summary>
    public static FamilyReport Run(int cases, int seed, string folder)
    {
        var report = new FamilyReport("race");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "exec", typeof(InPlaceRace).Assembly.Location, "race-child", cases.ToString(System.Globalization.CultureInfo.InvariantCulture), seed.ToString(System.Globalization.CultureInfo.InvariantCulture), folder })
        {
            start.ArgumentList.Add(argument);
        }
        using var child = Process.Start(start)!;
        var errors = child.StandardError.ReadToEndAsync();
        string? line, last = null;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith("report\t", StringComparison.Ordinal))
            {
                last = line;
            }
            else if (line.StartsWith("note: ", StringComparison.Ordinal))
            {
                report.Notes.Add(line["note: ".Length..]);
            }
            else if (line.Length > 0)
            {
                report.Fail(line);
            }
        }
        child.WaitForExit();
        if (last is not null)
        {
            report.Add(FamilyReport.Parse("race", last));
        }
        if (child.ExitCode != 0 || last is null)
        {
            report.Crashes++;
            report.Fail($"the loading process died with exit code {child.ExitCode}: {errors.Result[..Math.Min(2000, errors.Result.Length)]}");
        }
        return report.Finish();
    }

    /// <summary>The child: one thread rewrites the file in place while this one loads it.</summary>
    public static FamilyReport RunHere(int cases, int seed, string folder)
    {
        var report = new FamilyReport("race");
        var path = Path.Combine(folder, "race.safetensors");
        var versions = new byte[2][];
        using (var model = new ReliabilityModel(Features))
        {
            for (var v = 0; v < 2; v++)
            {
                model.Fill(v + 1);
                using var file = new MemoryStream();
                // Versions of different lengths: the second carries a training state.
                if (v == 0)
                {
                    model.SaveCheckpoint(file);
                }
                else
                {
                    model.SaveCheckpoint(file, new TrainingState { Step = 2, Metadata = { ["padding"] = new string('x', 5000) } });
                }
                versions[v] = file.ToArray();
            }
        }
        File.WriteAllBytes(path, versions[0]);
        using var stop = new CancellationTokenSource();
        var rewrites = 0L;
        var writer = new Thread(() => Rewrite(path, versions, seed, stop.Token, ref rewrites)) { IsBackground = true };
        writer.Start();
        using var loaded = new ReliabilityModel(Features);
        loaded.Fill(7);
        using var snapshot = new ModelSnapshot(loaded);
        for (var i = 0; i < cases; i++)
        {
            var clock = Stopwatch.StartNew();
            string outcome;
            var refused = true;
            try
            {
                loaded.LoadCheckpoint(path);
                refused = false;
                var version = loaded.Version();
                outcome = $"loaded version {version?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "mixed"}";
                if (version is not (1 or 2))
                {
                    report.Illegitimate++;
                    report.Fail($"load {i}: succeeded with a mix of versions");
                }
            }
            catch (Exception e)
            {
                outcome = report.Classify(e, $"load {i}", ioIsDocumented: true);
            }
            report.Count(outcome, clock.Elapsed);
            if (refused && snapshot.Changes(loaded) is { Count: > 0 } keys)
            {
                report.Changed++;
                report.Fail($"load {i}: refused, but changed {string.Join(", ", keys)}");
            }
            snapshot.Restore(loaded);
        }
        stop.Cancel();
        writer.Join();
        report.Notes.Add($"{Interlocked.Read(ref rewrites)} rewrites during {cases} loads");
        return report.Finish();
    }

    /// <summary>Truncates the file and writes a version again, in pieces of random sizes, over and over.</summary>
    private static void Rewrite(string path, byte[][] versions, int seed, CancellationToken stop, ref long rewrites)
    {
        var random = new Random(seed);
        while (!stop.IsCancellationRequested)
        {
            var content = versions[random.Next(2)];
            // Like cp: open for writing with truncation, no lock, no rename.
            using (var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0))
            {
                file.SetLength(0);
                for (var at = 0; at < content.Length && !stop.IsCancellationRequested;)
                {
                    var piece = Math.Min(content.Length - at, random.Next(1, 64 << 10));
                    file.Write(content, at, piece);
                    at += piece;
                    if (random.Next(8) == 0)
                    {
                        Thread.Sleep(random.Next(2));
                    }
                }
            }
            Interlocked.Increment(ref rewrites);
            // Between rewrites the file holds one whole version for a moment, as between two copies.
            Thread.Sleep(random.Next(30));
        }
    }
}
