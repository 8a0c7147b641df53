using System;
using System.Collections.Generic;
using CheckpointGen.Reliability;
using Xunit;
using Xunit.Abstractions;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// The short forms of the reliability harness (tests/CheckpointGen.Reliability runs them at length):
/// damaged files never escape the two documented exceptions nor change the model, and a killed save never loses the checkpoint.
/// Each family runs a seeded slice of a few seconds here; docs/reliability.md has the figures of the long runs.
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
    public void Structure_aware_header_mutations_load_what_the_file_holds_or_change_nothing()
    {
        var report = HeaderFuzzer.Run(cases: 600, seed: 20261130, folder.Path);

        AssertClean(report, "loaded", "refused: not a valid checkpoint", "refused: does not fit the model");
    }

    [Fact]
    public void Training_state_mutations_restore_exactly_what_the_file_holds_or_leave_model_and_optimizer_as_they_were()
    {
        var report = TrainingFuzzer.Run(cases: 600, seed: 20261130, folder.Path);

        AssertClean(report, "loaded", "refused: not a valid checkpoint", "refused: does not fit the model");
    }

    [Fact]
    public void A_checkpoint_rewritten_in_place_while_it_loads_never_kills_the_process_nor_loads_a_mix()
    {
        var report = InPlaceRace.Run(cases: 300, seed: 20261130, folder.Path);

        // Whole versions loaded at times, and torn files were refused: the rewriter really raced the loader.
        AssertClean(report, "refused: not a valid checkpoint");
        Assert.True(report.Outcomes.GetValueOrDefault("loaded version 1") + report.Outcomes.GetValueOrDefault("loaded version 2") > 0, report.ToString());
    }

    [Fact]
    public void Mutated_PyTorch_files_load_as_PyBridge_reads_them_or_are_refused_and_closed()
    {
        var report = PickleFuzzer.Run(cases: 600, seed: 20261130, folder.Path);

        AssertClean(report, "loaded", "refused: not a valid checkpoint");
    }

    [Fact]
    public void An_optimizer_option_is_read_as_the_writer_writes_numbers_not_with_thousands_separators()
    {
        using var fixture = new TrainedFixture(seed: 3);
        var (header, data) = CheckpointBytes.Split(fixture.Checkpoint);
        var metadata = header["__metadata__"]!.AsObject();
        metadata["checkpointgen.training"] = ((string)metadata["checkpointgen.training"]!).Replace("\"LearningRate\":\"0.01\"", "\"LearningRate\":\"1,5\"", StringComparison.Ordinal);
        var path = folder.File("thousands.safetensors");
        System.IO.File.WriteAllBytes(path, CheckpointBytes.Join(header, data, reseal: false));
        var training = TrainedFixture.NewTraining(fixture.Optimizer);

        var error = Assert.Throws<CheckpointFormatException>(() => fixture.Model.LoadCheckpoint(path, training));

        Assert.Contains("records 'LearningRate' as '1,5', which is not a Double", error.Message);
        Assert.Empty(fixture.Changes(training));
    }

    private void AssertClean(FamilyReport report, params string[] outcomes)
    {
        output.WriteLine(report.ToString());
        Assert.Empty(report.Failures);
        Assert.True(report.Clean, report.ToString());
        Assert.All(outcomes, outcome => Assert.True(report.Outcomes.GetValueOrDefault(outcome) > 0, $"no '{outcome}': {report}"));
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
