using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using CheckpointGen.Testing;

namespace CheckpointGen.Reliability;

/// <summary>What a crash run saw.</summary>
public sealed record CrashReport(int Kills, int LostCheckpoints, int LeftTemporaryFiles, IReadOnlyList<string> Failures)
{
    public override string ToString()
        => $"{Kills} SIGKILLs during saves: {LostCheckpoints} checkpoints lost or torn; {LeftTemporaryFiles} temporary files left by killed saves";
}

/// <summary>
/// A child process saves versions 1, 2, 3… of a model to one path and says so after each; it is killed with SIGKILL at a
/// random moment. The path must then load and hold a version that was completely saved: the last one acknowledged, or
/// the one whose rename happened just before the kill.
/// </summary>
public static class CrashHarness
{
    /// <summary>The child: saves forever.</summary>
    public static void SaveLoop(string path)
    {
        using var model = new ReliabilityModel(features: 512);
        for (long version = 1; ; version++)
        {
            model.Fill(version);
            model.SaveCheckpoint(path);
            Console.Out.WriteLine($"saved {version}");
            Console.Out.Flush();
        }
    }

    public static CrashReport Run(int kills, int seed, string folder)
    {
        var random = new Random(seed);
        var failures = new List<string>();
        var lost = 0;
        var path = Path.Combine(folder, "latest.safetensors");
        for (var kill = 0; kill < kills; kill++)
        {
            var acknowledged = KillDuringSaves(path, TimeSpan.FromMilliseconds(random.Next(0, 200)));
            using var model = new ReliabilityModel(features: 512);
            try
            {
                model.LoadCheckpoint(path);
                if (model.Version() is not { } version || version < acknowledged || version > acknowledged + 1)
                {
                    lost++;
                    failures.Add($"kill {kill}: the file holds version {model.Version()?.ToString() ?? "mixed"}, but {acknowledged} was the last acknowledged");
                }
            }
            catch (Exception e)
            {
                lost++;
                failures.Add($"kill {kill}: after the last acknowledged version {acknowledged}, loading failed: {e.Message}");
            }
        }
        var temporaries = Directory.GetFiles(folder, ".latest.safetensors.*.tmp").Length;
        return new CrashReport(kills, lost, temporaries, failures);
    }

    /// <summary>Runs the child until it has saved at least once, waits <paramref name="delay"/>, kills it; returns the last version it acknowledged.</summary>
    internal static long KillDuringSaves(string path, TimeSpan delay, string command = "save-loop")
    {
        using var child = ProcessRunner.Start("dotnet", ["exec", typeof(CrashHarness).Assembly.Location, command, path]);
        long acknowledged = 0;
        using var firstSave = new ManualResetEventSlim();
        child.OutputDataReceived += (_, line) =>
        {
            if (line.Data?.StartsWith("saved ", StringComparison.Ordinal) == true)
            {
                Interlocked.Exchange(ref acknowledged, long.Parse(line.Data["saved ".Length..], System.Globalization.CultureInfo.InvariantCulture));
                firstSave.Set();
            }
        };
        child.BeginOutputReadLine();
        var stderr = child.StandardError.ReadToEndAsync();
        if (!firstSave.Wait(TimeSpan.FromMinutes(1)))
        {
            child.Kill();
            throw new TimeoutException($"The saving child never saved: {stderr.Result}");
        }
        Thread.Sleep(delay);
        child.Kill(); // SIGKILL on Unix: no finally block, no flush, no cleanup runs.
        child.WaitForExit();
        return Interlocked.Read(ref acknowledged);
    }
}
