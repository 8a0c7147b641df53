using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using LRScheduler = TorchSharp.torch.optim.lr_scheduler.LRScheduler;

namespace CheckpointGen.Runtime.Tests.Training;

/// <summary>A learning-rate scheduler saved with the training state: the resumed run follows the same schedule, bit for bit.</summary>
public sealed class SchedulerTests() : TrainingRun(batchCount: 10)
{
    internal static optim.Optimizer Sgd(Captioner model) => optim.SGD(model.TrainableParameters(), 0.1, momentum: 0.9);

    public static TheoryData<string> Schedulers() => new()
    {
        "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau", "LambdaLR", "MultiStepLR", "ExponentialLR", "LinearLR", "ConstantLR",
        "PolynomialLR", "CyclicLR", "MultiplicativeLR",
    };

    internal static LRScheduler Create(string kind, optim.Optimizer optimizer) => kind switch
    {
        "StepLR" => optim.lr_scheduler.StepLR(optimizer, step_size: 2, gamma: 0.5),
        "CosineAnnealingLR" => optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max: 7, eta_min: 0.001),
        "ReduceLROnPlateau" => optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor: 0.5, patience: 0),
        "LambdaLR" => optim.lr_scheduler.LambdaLR(optimizer, epoch => 1.0 / (1 + epoch)),
        "MultiStepLR" => optim.lr_scheduler.MultiStepLR(optimizer, [3, 6, 8], gamma: 0.5),
        "ExponentialLR" => optim.lr_scheduler.ExponentialLR(optimizer, gamma: 0.8),
        "LinearLR" => optim.lr_scheduler.LinearLR(optimizer, total_iters: 8),
        "ConstantLR" => optim.lr_scheduler.ConstantLR(optimizer, total_iters: 7),
        "PolynomialLR" => optim.lr_scheduler.PolynomialLR(optimizer, total_iters: 9, power: 2),
        "CyclicLR" => optim.lr_scheduler.CyclicLR(optimizer, base_lr: 0.01, max_lr: 0.1, step_size_up: 3),
        "MultiplicativeLR" => optim.lr_scheduler.MultiplicativeLR(optimizer, epoch => 0.9),
        "SequentialLR" => optim.lr_scheduler.SequentialLR(optimizer, [optim.lr_scheduler.StepLR(optimizer, 2), optim.lr_scheduler.ExponentialLR(optimizer, 0.9)], [3]),
        _ => throw new ArgumentException(kind),
    };

    /// <summary>One optimizer step and one scheduler step per batch; returns the learning rate each step used.</summary>
    private List<double> Train(Captioner model, optim.Optimizer optimizer, LRScheduler scheduler, int from, int to)
    {
        var rates = new List<double>();
        model.train();
        for (var step = from; step < to; step++)
        {
            rates.Add(optimizer.ParamGroups.First().LearningRate);
            Step(model, optimizer, step);
            if (scheduler is optim.lr_scheduler.impl.ReduceLROnPlateau)
            {
                // A loss that stops improving, so that the plateau logic changes the rate.
                scheduler.step(step < 2 ? 1.0 / (step + 1) : 1.0);
            }
            else
            {
                scheduler.step();
            }
        }
        model.eval();
        return rates;
    }

    [Theory]
    [MemberData(nameof(Schedulers))]
    public void A_run_resumed_with_SGD_momentum_and_its_scheduler_continues_bit_identically(string kind)
    {
        var path = Folder.File("resume.safetensors");
        using var original = Model(seed: 1);
        using var optimizer = Sgd(original);
        var scheduler = Create(kind, optimizer);
        Train(original, optimizer, scheduler, 0, 5);
        original.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Scheduler = scheduler, Step = 5 });
        var expectedRates = Train(original, optimizer, scheduler, 5, 10);

        using var resumed = Model(seed: 2);
        using var resumedOptimizer = Sgd(resumed);
        var resumedScheduler = Create(kind, resumedOptimizer);
        resumed.LoadCheckpoint(path, new TrainingState { Optimizer = resumedOptimizer, Scheduler = resumedScheduler });
        var rates = Train(resumed, resumedOptimizer, resumedScheduler, 5, 10);

        Assert.Equal(expectedRates, rates);
        // The schedule changed the rate within the resumed steps, so the test sees the scheduler's state.
        Assert.True(expectedRates.Distinct().Count() > 1 || expectedRates[0] != 0.1, string.Join(", ", expectedRates));
        Assert.All(original.TrainableStateDict(), e => Assert.True(Tensors.BitIdentical(e.Value, resumed.TrainableStateDict()[e.Key]), e.Key));
    }

    [Fact]
    public void Without_the_scheduler_state_the_resumed_schedule_would_differ()
    {
        // The control for the test above: a fresh scheduler over the restored optimizer takes another path.
        var path = Folder.File("resume.safetensors");
        using var original = Model(seed: 1);
        using var optimizer = Sgd(original);
        var scheduler = Create("StepLR", optimizer);
        Train(original, optimizer, scheduler, 0, 5);
        original.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Step = 5 });
        var expectedRates = Train(original, optimizer, scheduler, 5, 10);

        using var resumed = Model(seed: 2);
        using var resumedOptimizer = Sgd(resumed);
        resumed.LoadCheckpoint(path, new TrainingState { Optimizer = resumedOptimizer });
        var rates = Train(resumed, resumedOptimizer, Create("StepLR", resumedOptimizer), 5, 10);

        Assert.NotEqual(expectedRates, rates);
    }

    [Fact]
    public void The_file_records_the_scheduler_counters_and_rates_by_name()
    {
        var path = SaveTrainedStepLR(withScheduler: true);

        var training = System.Text.Json.Nodes.JsonNode.Parse(WeightFiles.Metadata(path)["checkpointgen.training"])!;
        var recorded = training["scheduler"]!;
        Assert.Equal("StepLR", (string)recorded["kind"]!);
        Assert.Equal("3", (string)recorded["scalars"]!["_last_epoch"]!);
        Assert.Equal("2", (string)recorded["scalars"]!["_step_size"]!);
        Assert.Equal(["0.1"], recorded["lists"]!["_base_lrs"]!.AsArray().Select(v => (string)v!));
        Assert.Equal(["0.05"], recorded["lists"]!["_last_lrs"]!.AsArray().Select(v => (string)v!));
    }

    [Fact]
    public void A_scheduler_it_cannot_restore_is_refused_at_save_and_at_load_before_anything_changes()
    {
        var path = Folder.File("resume.safetensors");
        using var model = Model(seed: 1);
        using var optimizer = Sgd(model);
        var sequential = Create("SequentialLR", optimizer);
        Train(model, optimizer, sequential, 0, 2);

        var atSave = Assert.Throws<NotSupportedException>(() => model.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Scheduler = sequential }));
        Assert.Contains("SequentialLR keeps '_schedulers'", atSave.Message);
        Assert.False(System.IO.File.Exists(path));

        var stepLR = Create("StepLR", optimizer);
        model.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Scheduler = stepLR });
        using var resumed = Model(seed: 2);
        using var resumedOptimizer = Sgd(resumed);
        var resumedSequential = Create("SequentialLR", resumedOptimizer);
        using var before = new ModelSnapshot(resumed);
        var training = new TrainingState { Optimizer = resumedOptimizer, Scheduler = resumedSequential, Step = 9 };

        var atLoad = Assert.Throws<NotSupportedException>(() => resumed.LoadCheckpoint(path, training));

        Assert.Contains("SequentialLR", atLoad.Message);
        before.AssertUnchanged(resumed);
        Assert.Equal(9, training.Step);
    }

    public static TheoryData<string, string> Refusals() => new()
    {
        { "another kind", "scheduler state for 'scheduler': the scheduler has CosineAnnealingLR, the file has StepLR" },
        { "no scheduler state", "scheduler state for 'scheduler': the scheduler has StepLR, the file has no scheduler state" },
        { "another group count", "scheduler state for '_base_lrs': the scheduler has 2 values, the file has 1 value" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void A_scheduler_state_that_does_not_fit_is_refused_and_nothing_changes(string case_, string expected)
    {
        var path = SaveTrainedStepLR(withScheduler: case_ != "no scheduler state");

        using var resumed = Model(seed: 2);
        using var resumedOptimizer = case_ == "another group count"
            ? optim.SGD([new SGD.ParamGroup(resumed.TrainableParameters().Take(1), 0.1), new SGD.ParamGroup(resumed.TrainableParameters().Skip(1), 0.2)], 0.1)
            : Sgd(resumed);
        var resumedScheduler = Create(case_ == "another kind" ? "CosineAnnealingLR" : "StepLR", resumedOptimizer);
        Train(resumed, resumedOptimizer, resumedScheduler, 3, 4);
        using var before = new ModelSnapshot(resumed);
        var rate = resumedOptimizer.ParamGroups.First().LearningRate;
        var counters = Counters(resumedScheduler);

        var error = Assert.Throws<CheckpointMismatchException>(() => resumed.LoadCheckpoint(path, new TrainingState { Optimizer = resumedOptimizer, Scheduler = resumedScheduler }));

        Assert.Contains(expected, error.Message);
        before.AssertUnchanged(resumed);
        Assert.Equal(rate, resumedOptimizer.ParamGroups.First().LearningRate);
        Assert.Equal(counters, Counters(resumedScheduler));
    }

    [Fact]
    public void A_scheduler_of_another_optimizer_is_refused()
    {
        using var model = Model(seed: 1);
        using var optimizer = Sgd(model);
        using var other = Sgd(model);
        var scheduler = Create("StepLR", other);

        var error = Assert.Throws<InvalidOperationException>(() => model.SaveCheckpoint(Folder.File("x.safetensors"), new TrainingState { Optimizer = optimizer, Scheduler = scheduler }));

        Assert.Contains("must drive TrainingState.Optimizer", error.Message);
    }

    [Fact]
    public void A_damaged_scheduler_state_is_refused_before_anything_changes()
    {
        var path = SaveTrainedStepLR(withScheduler: true);
        WeightFiles.EditMetadata(path, metadata =>
        {
            var training = System.Text.Json.Nodes.JsonNode.Parse((string)metadata["checkpointgen.training"]!)!.AsObject();
            training["scheduler"]!["scalars"]!["_last_epoch"] = "three";
            metadata["checkpointgen.training"] = training.ToJsonString();
        });
        using var resumed = Model(seed: 2);
        using var resumedOptimizer = Sgd(resumed);
        var resumedScheduler = Create("StepLR", resumedOptimizer);
        using var before = new ModelSnapshot(resumed);
        var counters = Counters(resumedScheduler);

        var error = Assert.Throws<CheckpointFormatException>(() => resumed.LoadCheckpoint(path, new TrainingState { Optimizer = resumedOptimizer, Scheduler = resumedScheduler }));

        Assert.Contains("'_last_epoch' of StepLR is recorded as 'three', which is not a Int32", error.Message);
        before.AssertUnchanged(resumed);
        Assert.Equal(counters, Counters(resumedScheduler));
    }

    /// <summary>A checkpoint after 3 steps of SGD with momentum and StepLR, with the scheduler's state or without.</summary>
    private string SaveTrainedStepLR(bool withScheduler)
    {
        var path = Folder.File("resume.safetensors");
        using var model = Model(seed: 1);
        using var optimizer = Sgd(model);
        var scheduler = Create("StepLR", optimizer);
        Train(model, optimizer, scheduler, 0, 3);
        model.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Scheduler = withScheduler ? scheduler : null });
        return path;
    }

    /// <summary>The scheduler's epoch and step counters and its last rates, to compare before and after.</summary>
    private static string Counters(LRScheduler scheduler)
        => $"{scheduler.LastEpoch()} {string.Join(",", scheduler.get_last_lr())}";
}

internal static class SchedulerInspection
{
    public static int LastEpoch(this LRScheduler scheduler)
        => (int)typeof(LRScheduler).GetField("_last_epoch", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(scheduler)!;
}
