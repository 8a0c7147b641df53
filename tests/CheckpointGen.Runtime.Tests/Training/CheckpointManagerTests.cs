using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using CheckpointGen.Reliability;
using CheckpointGen.Testing;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Training;

/// <summary>
/// The checkpoints of a training loop: retention by step and by metric, through restarts, around files the manager did
/// not write; resuming from the newest file that loads. Every model tags its files: <see cref="ReliabilityModel.Fill"/>
/// sets every trainable tensor to the step, so a loaded model tells which file it came from.
/// </summary>
public sealed class CheckpointManagerTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static ReliabilityModel Model() => new(features: 8);

    /// <summary>Saves each step with the model filled with the step's number and the metric value given for it.</summary>
    private static void SaveSteps(CheckpointManager manager, ReliabilityModel model, IEnumerable<(long Step, double Loss)> steps)
    {
        foreach (var (step, loss) in steps)
        {
            model.Fill(step);
            manager.Save(step, metrics: new Dictionary<string, double> { ["val_loss"] = loss });
        }
    }

    private static IEnumerable<(long, double)> Losses(params double[] losses) => losses.Select((loss, i) => ((long)i + 1, loss));

    private string[] FilesInFolder() => Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    private static long[] Steps(CheckpointManager manager) => manager.Checkpoints.Select(c => c.Step).ToArray();

    [Fact]
    public void The_newest_KeepLast_are_kept_and_the_rest_deleted()
    {
        using var model = Model();
        using var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 2 });

        SaveSteps(manager, model, Losses(0.5, 0.4, 0.3, 0.2, 0.1));

        Assert.Equal([4, 5], Steps(manager));
        Assert.Equal(["step-4.safetensors", "step-5.safetensors"], FilesInFolder());
        Assert.Equal(folder.File("step-5.safetensors"), manager.Latest!.Path);
        Assert.Equal(0.1, manager.Latest.Metrics["val_loss"]);
    }

    [Fact]
    public void What_retention_drops_from_the_files_already_there_goes_before_the_next_save_is_written()
    {
        // More checkpoints than retention keeps: what runs killed between a save's rename and its deletions leave behind.
        using var model = Model();
        using (var keepingAll = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 0 }))
        {
            SaveSteps(keepingAll, model, Losses(0.5, 0.4, 0.3, 0.2));
        }
        var events = new ConcurrentQueue<string>();
        using var watcher = new FileSystemWatcher(folder.Path);
        watcher.Deleted += (_, e) => events.Enqueue($"deleted {e.Name}");
        watcher.Renamed += (_, e) => events.Enqueue($"renamed to {e.Name}");
        watcher.EnableRaisingEvents = true;
        using var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 1 });

        SaveSteps(manager, model, [(5, 0.1)]);

        Assert.True(SpinWait.SpinUntil(() => events.Contains("deleted step-4.safetensors"), TimeSpan.FromSeconds(10)), string.Join(", ", events));
        Assert.Equal(
            ["deleted step-1.safetensors", "deleted step-2.safetensors", "deleted step-3.safetensors", "renamed to step-5.safetensors", "deleted step-4.safetensors"],
            events.ToArray());
        Assert.Equal(["step-5.safetensors"], FilesInFolder());
    }

    [Fact]
    public void A_checkpoint_that_will_not_be_deleted_does_not_stop_the_next_save()
    {
        using var model = Model();
        using (var keepingAll = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 0 }))
        {
            SaveSteps(keepingAll, model, Losses(0.5, 0.4, 0.3));
        }
        var stuck = folder.File("step-1.safetensors");
        // Immutable: not even root may delete it. Only where the file system and the user may set that (ext4 and root here).
        if (ProcessRunner.Run("chattr", ["+i", stuck]).ExitCode != 0)
        {
            return;
        }
        try
        {
            using var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 1 });
            model.Fill(4);

            // Before the write, step 1 stays and step 2 goes; once the save is on disk, step 3 goes and step 1's
            // failure is reported.
            Assert.Throws<UnauthorizedAccessException>(() => manager.Save(4));

            Assert.Equal(["step-1.safetensors", "step-4.safetensors"], FilesInFolder());
            Assert.Equal([4], Steps(manager));
            Assert.Equal(4, Model().Also(m => m.LoadCheckpoint(folder.File("step-4.safetensors"))).Version());
        }
        finally
        {
            ProcessRunner.Run("chattr", ["-i", stuck]);
        }
    }

    [Fact]
    public void KeepLast_0_keeps_every_checkpoint()
    {
        using var model = Model();
        using var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 0, KeepBest = 1, Monitor = "val_loss" });

        SaveSteps(manager, model, Losses(0.5, 0.4, 0.3, 0.6));

        Assert.Equal([1, 2, 3, 4], Steps(manager));
        Assert.Equal(4, FilesInFolder().Length);
    }

    [Theory]
    [InlineData(true, new long[] { 2, 4, 6 }, 4)]
    [InlineData(false, new long[] { 3, 5, 6 }, 5)]
    public void The_best_KeepBest_by_the_monitored_metric_are_kept_beside_the_newest(bool minimize, long[] expected, long best)
    {
        using var model = Model();
        var options = new CheckpointManagerOptions { KeepLast = 1, KeepBest = 2, Monitor = "val_loss", Minimize = minimize };
        using var manager = new CheckpointManager(model, folder.Path, options);

        SaveSteps(manager, model, Losses(0.5, 0.3, 0.8, 0.2, 0.9, 0.4));

        Assert.Equal(expected, Steps(manager));
        Assert.Equal(expected.Select(s => $"step-{s}.safetensors"), FilesInFolder());
        Assert.Equal(best, manager.Best!.Step);
    }

    [Fact]
    public void A_checkpoint_without_the_metric_or_with_NaN_is_never_best_and_NaN_survives_a_restart()
    {
        using var model = Model();
        var options = new CheckpointManagerOptions { KeepLast = 1, KeepBest = 1, Monitor = "val_loss" };
        using (var manager = new CheckpointManager(model, folder.Path, options))
        {
            SaveSteps(manager, model, [(1, 0.7)]);
            manager.Save(2, metrics: new Dictionary<string, double> { ["val_loss"] = double.NaN, ["accuracy"] = double.PositiveInfinity });
            manager.Save(3);
        }

        using var reopened = new CheckpointManager(model, folder.Path, options);

        Assert.Equal([1, 3], Steps(reopened));
        Assert.Equal(1, reopened.Best!.Step);
        Assert.Empty(reopened.Latest!.Metrics);
        Assert.Equal(["step-1.safetensors", "step-3.safetensors"], FilesInFolder());
    }

    [Fact]
    public void A_new_manager_over_the_folder_sees_the_same_checkpoints_and_retains_from_there()
    {
        using var model = Model();
        var options = new CheckpointManagerOptions { KeepLast = 2, KeepBest = 1, Monitor = "val_loss" };
        IReadOnlyList<CheckpointInfo> before;
        using (var first = new CheckpointManager(model, folder.Path, options with { KeepLast = 0 }))
        {
            SaveSteps(first, model, Losses(0.5, 0.1, 0.4, 0.3));
            before = first.Checkpoints;
        }

        using var second = new CheckpointManager(model, folder.Path, options);
        Assert.Equal(before.Select(c => (c.Path, c.Step, c.Metrics["val_loss"])), second.Checkpoints.Select(c => (c.Path, c.Step, c.Metrics["val_loss"])));
        Assert.Equal(2, second.Best!.Step);

        SaveSteps(second, model, [(5, 0.6)]);

        // The newest two (4, 5) and the best (2): the files of the first manager are retained as its own.
        Assert.Equal([2, 4, 5], Steps(second));
        Assert.Equal(["step-2.safetensors", "step-4.safetensors", "step-5.safetensors"], FilesInFolder());
    }

    [Fact]
    public void Files_the_manager_did_not_write_are_never_deleted_nor_replaced_nor_listed()
    {
        using var model = Model();
        // A hand-made checkpoint of the same model under a manager's name, without the manager's step entry.
        model.Fill(100);
        model.SaveCheckpoint(folder.File("step-1.safetensors"));
        // A file whose step entry disagrees with its name (copied by hand).
        using (var other = new CheckpointManager(model, folder.File("elsewhere"), new CheckpointManagerOptions { KeepLast = 0 }))
        {
            other.Save(7);
        }
        File.Copy(folder.File("elsewhere/step-7.safetensors"), folder.File("step-2.safetensors"));
        // A checkpoint of another model type, by its own manager.
        using (var captioner = new Models.Captioner())
        using (var another = new CheckpointManager(captioner, folder.File("captioner"), new CheckpointManagerOptions { KeepLast = 0 }))
        {
            another.Save(3);
        }
        File.Copy(folder.File("captioner/step-3.safetensors"), folder.File("step-3.safetensors"));
        // Not a checkpoint at all, and names close to a manager's.
        File.WriteAllText(folder.File("step-4.safetensors"), "my notes");
        File.WriteAllText(folder.File("step-04.safetensors"), "x");
        File.WriteAllText(folder.File("step-5.safetensors.bak"), "x");
        File.WriteAllText(folder.File("step-5-v0.safetensors"), "x");
        var foreign = new[] { "step-1.safetensors", "step-2.safetensors", "step-3.safetensors", "step-4.safetensors", "step-04.safetensors", "step-5.safetensors.bak", "step-5-v0.safetensors" }
            .ToDictionary(name => name, name => File.ReadAllBytes(folder.File(name)));

        using (var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 1 }))
        {
            Assert.Empty(manager.Checkpoints);
            SaveSteps(manager, model, Losses(0.5, 0.4, 0.3, 0.2, 0.1));

            Assert.Equal([5], Steps(manager));
        }

        Assert.All(foreign, f => Assert.Equal(f.Value, File.ReadAllBytes(folder.File(f.Key))));
        Assert.Equal(foreign.Keys.Append("captioner").Append("elsewhere").Append("step-5.safetensors").Order(StringComparer.Ordinal), FilesInFolder());
    }

    [Fact]
    public void A_save_whose_name_a_foreign_file_holds_goes_to_a_versioned_name_and_is_the_managers_own()
    {
        using var model = Model();
        File.WriteAllText(folder.File("step-2.safetensors"), "not a checkpoint");
        using var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 1 });

        model.Fill(2);
        var saved = manager.Save(2);
        using (var reopened = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 1 }))
        {
            Assert.Equal([(saved.Path, 2L)], reopened.Checkpoints.Select(c => (c.Path, c.Step)));
        }
        SaveSteps(manager, model, [(3, 0.1)]);

        Assert.Equal(folder.File("step-2-v1.safetensors"), saved.Path);
        Assert.Equal(["step-2.safetensors", "step-3.safetensors"], FilesInFolder());
        Assert.Equal("not a checkpoint", File.ReadAllText(folder.File("step-2.safetensors")));
    }

    [Fact]
    public void Temporary_files_of_killed_saves_are_removed_when_the_manager_opens_and_never_listed()
    {
        using var model = Model();
        using (var first = new CheckpointManager(model, folder.Path))
        {
            SaveSteps(first, model, [(1, 0.5)]);
        }
        var abandoned = folder.File($".step-2.safetensors.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(abandoned, File.ReadAllBytes(folder.File("step-1.safetensors"))[..100]);
        var usersOwn = folder.File($".notes.txt.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(usersOwn, "x");

        using var manager = new CheckpointManager(model, folder.Path);

        Assert.Equal([1], Steps(manager));
        Assert.False(File.Exists(abandoned));
        Assert.True(File.Exists(usersOwn));
        Assert.Equal(1, manager.RestoreLatest()!.Step);
        Assert.Empty(manager.Skipped);
    }

    [Fact]
    public void SaveIfDue_saves_every_N_steps_and_never_when_N_is_0()
    {
        using var model = Model();
        using var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { EveryNSteps = 3, KeepLast = 0 });
        using var never = new CheckpointManager(model, folder.File("never"), new CheckpointManagerOptions { KeepLast = 0 });

        var saved = Enumerable.Range(1, 10).Select(step => manager.SaveIfDue(step)?.Step).ToArray();
        var neverSaved = Enumerable.Range(1, 10).Select(step => never.SaveIfDue(step)).ToArray();

        Assert.Equal([null, null, 3, null, null, 6, null, null, 9, null], saved);
        Assert.Equal([3, 6, 9], Steps(manager));
        Assert.All(neverSaved, Assert.Null);
        Assert.Empty(Directory.GetFiles(folder.File("never")));
    }

    public static TheoryData<string, string> Damages() => new()
    {
        { "a flipped data byte", "does not match the checksum" },
        { "truncated", "truncated" },
        { "emptied", "shorter than the 8-byte header length" },
        { "a damaged metrics entry", "'checkpointgen.metrics' entry is not a JSON object of numbers" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void RestoreLatest_passes_over_a_damaged_newest_file_says_why_and_loads_the_one_before(string damage, string reason)
    {
        using var model = Model();
        using (var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 0 }))
        {
            SaveSteps(manager, model, Losses(0.3, 0.2, 0.1));
        }
        var newest = folder.File("step-3.safetensors");
        var bytes = File.ReadAllBytes(newest);
        switch (damage)
        {
            case "a flipped data byte":
                bytes[^3] ^= 0x40;
                File.WriteAllBytes(newest, bytes);
                break;
            case "truncated":
                File.WriteAllBytes(newest, bytes[..^10]);
                break;
            case "emptied":
                File.WriteAllBytes(newest, []);
                break;
            default:
                WeightFiles.EditMetadata(newest, metadata => metadata["checkpointgen.metrics"] = "{\"val_loss\": \"low\"}");
                break;
        }
        using var resumed = Model();

        using var manager2 = new CheckpointManager(resumed, folder.Path, new CheckpointManagerOptions { KeepLast = 0 });
        var restored = manager2.RestoreLatest();

        Assert.Equal(2, restored!.Step);
        Assert.Equal(2, resumed.Version());
        var skipped = Assert.Single(manager2.Skipped);
        Assert.Equal(newest, skipped.Path);
        Assert.Contains(reason, skipped.Reason);
        // Still there: the manager cannot prove it wrote a file it cannot read.
        Assert.True(File.Exists(newest));
    }

    [Fact]
    public void RestoreLatest_returns_null_for_an_empty_folder_and_when_nothing_loads()
    {
        using var model = Model();
        using (var empty = new CheckpointManager(model, folder.Path))
        {
            Assert.Null(empty.RestoreLatest());
            Assert.Empty(empty.Skipped);
            SaveSteps(empty, model, [(1, 0.1)]);
        }
        File.WriteAllBytes(folder.File("step-1.safetensors"), [1, 2, 3]);
        model.Fill(5);
        using var before = new ModelSnapshot(model);

        using var manager = new CheckpointManager(model, folder.Path);

        Assert.Null(manager.RestoreLatest());
        Assert.Equal(folder.File("step-1.safetensors"), Assert.Single(manager.Skipped).Path);
        before.AssertUnchanged(model);
    }

    [Fact]
    public void RestoreLatest_fills_the_training_state_with_the_step_of_the_save()
    {
        using var model = Model();
        using var optimizer = optim.Adam(model.TrainableParameters());
        using (var manager = new CheckpointManager(model, folder.Path))
        {
            model.Fill(7);
            // The loop's own TrainingState.Step was never set: the manager's step is what the file records.
            manager.Save(7, new TrainingState { Optimizer = optimizer, Epoch = 2, Metadata = { ["data"] = "shard 3" } });
        }
        using var resumed = Model();
        using var resumedOptimizer = optim.Adam(resumed.TrainableParameters());
        var training = new TrainingState { Optimizer = resumedOptimizer };

        using var reopened = new CheckpointManager(resumed, folder.Path);
        var restored = reopened.RestoreLatest(training);

        Assert.Equal(7, restored!.Step);
        Assert.Equal(7, training.Step);
        Assert.Equal(2, training.Epoch);
        Assert.Equal("shard 3", training.Metadata["data"]);
        Assert.Equal(7, resumed.Version());
    }

    [Fact]
    public void RestoreLatest_does_not_pass_over_an_intact_checkpoint_that_does_not_fit()
    {
        using var model = Model();
        using var optimizer = optim.Adam(model.TrainableParameters());
        using (var manager = new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = 0 }))
        {
            manager.Save(1, new TrainingState { Optimizer = optimizer });
            manager.Save(2, new TrainingState { Optimizer = optimizer });
        }
        using var resumed = Model();
        using var sgd = optim.SGD(resumed.TrainableParameters(), 0.1);
        using var reopened = new CheckpointManager(resumed, folder.Path);

        // Every older file would fail the same way: starting the run over silently is the bug this avoids.
        var error = Assert.Throws<CheckpointMismatchException>(() => reopened.RestoreLatest(new TrainingState { Optimizer = sgd }));

        Assert.Contains("step-2.safetensors", error.Message);
        Assert.Empty(reopened.Skipped);
    }

    [Fact]
    public void A_run_resumed_through_the_manager_with_SGD_momentum_and_StepLR_continues_bit_identically()
    {
        manual_seed(3);
        var batches = Enumerable.Range(0, 10).Select(_ => (randn(16, 8), randn(16, 8))).ToList();
        var options = new CheckpointManagerOptions { EveryNSteps = 2, KeepLast = 0, Async = true };

        manual_seed(1);
        using var original = Model();
        using var optimizer = optim.SGD(original.TrainableParameters(), 0.1, momentum: 0.9);
        var scheduler = optim.lr_scheduler.StepLR(optimizer, step_size: 3, gamma: 0.5);
        Run(original, new TrainingState { Optimizer = optimizer, Scheduler = scheduler }, from: 1);
        // The run as if killed during step 5: what it saved later never happened.
        foreach (var step in new[] { 6, 8, 10 })
        {
            File.Delete(folder.File($"step-{step}.safetensors"));
        }

        manual_seed(2);
        using var resumed = Model();
        CopyPretrained(original, resumed);
        using var resumedOptimizer = optim.SGD(resumed.TrainableParameters(), 0.1, momentum: 0.9);
        var resumedScheduler = optim.lr_scheduler.StepLR(resumedOptimizer, step_size: 3, gamma: 0.5);
        var training = new TrainingState { Optimizer = resumedOptimizer, Scheduler = resumedScheduler };
        using (var manager = new CheckpointManager(resumed, folder.Path, options))
        {
            Assert.Equal(4, manager.RestoreLatest(training)!.Step);
        }
        Run(resumed, training, from: training.Step + 1);

        Assert.Equal(optimizer.ParamGroups.First().LearningRate, resumedOptimizer.ParamGroups.First().LearningRate);
        Assert.NotEqual(0.1, optimizer.ParamGroups.First().LearningRate);
        Assert.All(original.TrainableStateDict(), e => Assert.True(Tensors.BitIdentical(e.Value, resumed.TrainableStateDict()[e.Key]), e.Key));

        void Run(ReliabilityModel model, TrainingState state, long from)
        {
            using var manager = new CheckpointManager(model, folder.Path, options);
            for (var step = from; step <= 10; step++)
            {
                model.train();
                state.Optimizer!.zero_grad();
                using (var output = model.forward(batches[(int)step - 1].Item1))
                using (var loss = nn.functional.mse_loss(output, batches[(int)step - 1].Item2))
                {
                    loss.backward();
                }
                state.Optimizer.step();
                state.Scheduler!.step();
                manager.SaveIfDue(step, state);
            }
        }
    }

    /// <summary>The frozen encoder has no source file: the resumed model gets the same weights by hand, as LoadPretrained would give them.</summary>
    private static void CopyPretrained(ReliabilityModel from, ReliabilityModel to)
    {
        using var noGrad = no_grad();
        var source = from.state_dict();
        foreach (var (key, tensor) in to.state_dict().Where(e => e.Key.StartsWith("encoder.", StringComparison.Ordinal)))
        {
            tensor.copy_(source[key]);
        }
    }

    [Fact]
    public void Options_that_contradict_themselves_are_refused()
    {
        using var model = Model();

        Assert.Throws<ArgumentException>(() => new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepBest = 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { KeepLast = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CheckpointManager(model, folder.Path, new CheckpointManagerOptions { EveryNSteps = -1 }));
    }
}
