using System;
using CheckpointGen.Reliability;
using Xunit;
using Xunit.Abstractions;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// The short forms of the reliability harness (tests/CheckpointGen.Reliability runs them at length):
/// damaged files never escape the two documented exceptions nor change the model, and a killed save never loses the checkpoint.
/// </summary>
public sealed class FuzzAndCrashTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public void Thousands_of_mutated_checkpoints_load_or_are_refused_cleanly()
    {
        var report = CheckpointFuzzer.Run(cases: 3000, seed: 20261130, folder.Path);
        output.WriteLine(report.ToString());

        Assert.Empty(report.Failures);
        Assert.Equal(0, report.UnexpectedExceptions);
        Assert.Equal(0, report.ChangedModels);
        // Every kind of outcome happened: the mutations reach past the first check.
        Assert.True(report.Loaded > 0 && report.FormatErrors > 0 && report.MismatchErrors > 0, report.ToString());
        // A hang guard, not a speed measurement: a load of this kilobyte file takes about a millisecond.
        Assert.True(report.Slowest < TimeSpan.FromSeconds(1), report.ToString());
    }

    [Fact]
    public void A_save_killed_at_random_moments_never_loses_the_checkpoint()
    {
        var report = CrashHarness.Run(kills: 20, seed: 20261130, folder.Path);
        output.WriteLine(report.ToString());

        Assert.Empty(report.Failures);
        Assert.Equal(0, report.LostCheckpoints);
        // Each new save removes what the killed one left; only the last kill's file remains.
        Assert.InRange(report.LeftTemporaryFiles, 0, 1);
    }

    [Fact]
    public void Asynchronous_saves_killed_at_random_moments_leave_the_folder_restorable()
    {
        var report = AsyncCrashHarness.Run(kills: 8, seed: 20261130, folder.Path);
        output.WriteLine(report.ToString());

        Assert.Empty(report.Failures);
        Assert.Equal(0, report.Unrestorable);
        Assert.Equal(0, report.OverRetained);
        // A manager opening the folder removes what the killed background save left.
        Assert.Equal(0, report.LeftTemporaryFiles);
        Assert.True(report.LastStep > 0, report.ToString());
    }
}
