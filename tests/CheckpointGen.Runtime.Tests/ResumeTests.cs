using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Training resumed from a checkpoint continues exactly as if it had never stopped.</summary>
public sealed class ResumeTests() : TrainingRun(batchCount: 6)
{
    public static TheoryData<string> Optimizers() => new() { "SGD", "Adam", "AdamW" };

    private static optim.Optimizer Create(string kind, IEnumerable<Parameter> parameters) => kind switch
    {
        "SGD" => optim.SGD(parameters, 0.05, momentum: 0.9),
        "Adam" => optim.Adam(parameters, lr: 0.01),
        _ => optim.AdamW(parameters, lr: 0.01, weight_decay: 0.1),
    };

    private void Train(Captioner model, optim.Optimizer optimizer, int from, int to)
    {
        model.train();
        for (var step = from; step < to; step++)
        {
            Step(model, optimizer, step);
        }
        model.eval();
    }

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void Resumed_training_is_bit_identical_with_the_optimizer_built_in_another_order(string kind)
    {
        var path = Folder.File("resume.safetensors");
        using var original = Model(seed: 1);
        using var optimizer = Create(kind, original.TrainableParameters());
        Train(original, optimizer, 0, 3);
        original.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Step = 3, Epoch = 1, Metadata = { ["data"] = "batch 3" } });
        Train(original, optimizer, 3, 6);

        using var resumed = Model(seed: 2);
        using var reordered = Create(kind, resumed.TrainableParameters().Reverse());
        var training = new TrainingState { Optimizer = reordered };
        resumed.LoadCheckpoint(path, training);
        Train(resumed, reordered, 3, 6);

        Assert.Equal(3, training.Step);
        Assert.Equal(1, training.Epoch);
        Assert.Equal("batch 3", training.Metadata["data"]);
        Assert.All(original.TrainableStateDict(), e => Assert.True(Tensors.BitIdentical(e.Value, resumed.TrainableStateDict()[e.Key]), e.Key));
    }

    [Fact]
    public void A_training_state_goes_through_a_stream_and_the_stream_is_left_after_the_checkpoint()
    {
        using var original = Model(seed: 1);
        using var optimizer = Create("Adam", original.TrainableParameters());
        Train(original, optimizer, 0, 3);
        using var stream = new System.IO.MemoryStream();
        original.SaveCheckpoint(stream, new TrainingState { Optimizer = optimizer, Step = 3, Epoch = 1 });
        var end = stream.Position;
        stream.WriteByte(42);
        Train(original, optimizer, 3, 6);

        using var resumed = Model(seed: 2);
        using var reordered = Create("Adam", resumed.TrainableParameters().Reverse());
        var training = new TrainingState { Optimizer = reordered };
        stream.Position = 0;
        resumed.LoadCheckpoint(stream, training);
        Assert.Equal(end, stream.Position);
        Train(resumed, reordered, 3, 6);

        Assert.Equal(3, training.Step);
        Assert.Equal(1, training.Epoch);
        Assert.All(original.TrainableStateDict(), e => Assert.True(Tensors.BitIdentical(e.Value, resumed.TrainableStateDict()[e.Key]), e.Key));
    }

    [Fact]
    public void Save_options_carry_the_training_state_and_the_progress_together()
    {
        var path = Folder.File("resume.safetensors");
        using var model = Model(seed: 1);
        using var optimizer = Create("Adam", model.TrainableParameters());
        Train(model, optimizer, 0, 2);
        var reports = new List<CheckpointProgress>();

        model.SaveCheckpoint(path, new CheckpointSaveOptions { Training = new TrainingState { Optimizer = optimizer, Step = 2 }, Progress = new Synchronous(reports.Add) });

        var written = WeightFiles.Keys(path);
        Assert.Contains("checkpointgen.optimizer/head.weight/exp_avg", written);
        Assert.NotEmpty(reports);
        Assert.Equal(reports[^1].BytesTotal, reports[^1].BytesDone);
        var training = new TrainingState { Optimizer = optimizer };
        model.LoadCheckpoint(path, training);
        Assert.Equal(2, training.Step);
    }

    private sealed class Synchronous(Action<CheckpointProgress> report) : IProgress<CheckpointProgress>
    {
        public void Report(CheckpointProgress value) => report(value);
    }

    [Fact]
    public void The_file_holds_optimizer_state_for_trainable_parameters_only_and_still_loads_as_weights()
    {
        var path = Folder.File("resume.safetensors");
        using var model = Model(seed: 1);
        using var optimizer = Create("Adam", model.TrainableParameters());
        Train(model, optimizer, 0, 2);

        model.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer });

        var keys = WeightFiles.Keys(path);
        Assert.Equal(
            ["checkpointgen.optimizer/head.bias/exp_avg", "checkpointgen.optimizer/head.bias/exp_avg_sq", "checkpointgen.optimizer/head.weight/exp_avg", "checkpointgen.optimizer/head.weight/exp_avg_sq", "head.bias", "head.weight"],
            keys);
        Assert.Contains("\"LearningRate\"", WeightFiles.Metadata(path)["checkpointgen.training"]);
        using var weightsOnly = Model(seed: 3);
        Assert.Equal(["head.bias", "head.weight"], weightsOnly.LoadCheckpoint(path).LoadedKeys.Order());
    }

    [Fact]
    public void An_optimizer_over_a_pretrained_parameter_is_refused_at_save()
    {
        using var model = Model(seed: 1);
        using var optimizer = optim.Adam(model.parameters());

        var error = Assert.Throws<InvalidOperationException>(() => model.SaveCheckpoint(Folder.File("x.safetensors"), new TrainingState { Optimizer = optimizer }));

        Assert.Contains("not a trainable parameter of CheckpointGen.Runtime.Tests.Models.Captioner", error.Message);
    }

    public static TheoryData<string, string> Refusals() => new()
    {
        { "another kind", "the optimizer has SGD, the file has Adam" },
        { "a parameter fewer", "optimizer state for 'head.bias': the optimizer has not a parameter of the optimizer, the file has state for it in the file" },
        { "a parameter more", "optimizer state for 'head.bias': the optimizer has a parameter of the optimizer, the file has no state for it in the file" },
        { "no training state", "optimizer state for 'training state'" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void A_training_state_that_does_not_fit_is_refused_and_nothing_changes(string case_, string expected)
    {
        var path = Folder.File("resume.safetensors");
        using var original = Model(seed: 1);
        var saved = case_ == "a parameter more" ? original.TrainableParameters().Where(p => p.shape.Length == 2).ToList() : original.TrainableParameters().ToList();
        using var optimizer = Create("Adam", saved);
        Train(original, optimizer, 0, 2);
        if (case_ == "no training state")
        {
            original.SaveCheckpoint(path);
        }
        else
        {
            original.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer });
        }

        using var resumed = Model(seed: 2);
        var parameters = case_ == "a parameter fewer" ? resumed.TrainableParameters().Where(p => p.shape.Length == 2).ToList() : resumed.TrainableParameters().ToList();
        using var other = Create(case_ == "another kind" ? "SGD" : "Adam", parameters);
        Train(resumed, other, 2, 3);
        using var model = new ModelSnapshot(resumed);
        var moments = MomentsOf(other);
        var training = new TrainingState { Optimizer = other, Step = 7 };

        var error = Assert.Throws<CheckpointMismatchException>(() => resumed.LoadCheckpoint(path, training));

        Assert.Contains(expected, error.Message);
        model.AssertUnchanged(resumed);
        Assert.Equal(7, training.Step);
        Assert.Equal(moments, MomentsOf(other));
    }

    [Theory]
    [InlineData("step", "\"x\"")]
    [InlineData("metadata", "[1]")]
    public void A_damaged_training_state_is_refused_before_anything_changes(string entry, string value)
    {
        var path = Folder.File("resume.safetensors");
        using var original = Model(seed: 1);
        using var optimizer = Create("Adam", original.TrainableParameters());
        Train(original, optimizer, 0, 2);
        original.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer });
        WeightFiles.EditMetadata(path, metadata =>
        {
            var training = System.Text.Json.Nodes.JsonNode.Parse((string)metadata["checkpointgen.training"]!)!.AsObject();
            training[entry] = System.Text.Json.Nodes.JsonNode.Parse(value);
            metadata["checkpointgen.training"] = training.ToJsonString();
        });
        using var resumed = Model(seed: 2);
        using var other = Create("Adam", resumed.TrainableParameters());
        Train(resumed, other, 2, 3);
        using var model = new ModelSnapshot(resumed);
        var moments = MomentsOf(other);

        var error = Assert.Throws<CheckpointFormatException>(() => resumed.LoadCheckpoint(path, new TrainingState { Optimizer = other }));

        Assert.Contains("'checkpointgen.training' is not a valid training state", error.Message);
        model.AssertUnchanged(resumed);
        Assert.Equal(moments, MomentsOf(other));
    }

    public static TheoryData<string, string> Damages() => new()
    {
        { "a key named twice", "names 'step' twice" },
        { "a number where a string belongs", "'optimizer' is a JSON Number, not a string" },
        { "a null tensor name", "is a JSON Null, not a string" },
        { "a tensor name listed twice", "name an entry twice" },
        { "a null hyper-parameter", "as null, where" },
        { "a hyper-parameter of the wrong type", "which is not a" },
        { "a hyper-parameter it does not have", "which Options does not have" },
        { "no moments stored", "not stored" },
        { "the group split in two", "no group of the same parameters" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_training_state_is_validated_in_full_before_anything_changes(string damage, string expected)
    {
        var path = Folder.File("resume.safetensors");
        using var original = Model(seed: 1);
        using var optimizer = Create("Adam", original.TrainableParameters());
        Train(original, optimizer, 0, 2);
        original.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Step = 2 });
        WeightFiles.EditMetadata(path, metadata =>
        {
            var training = System.Text.Json.Nodes.JsonNode.Parse((string)metadata["checkpointgen.training"]!)!.AsObject();
            var group = training["groups"]![0]!.AsObject();
            var state = training["states"]!["head.weight"]!.AsObject();
            var text = (string?)null;
            switch (damage)
            {
                case "a key named twice": text = training.ToJsonString().Replace("\"step\":2", "\"step\":2,\"step\":3", StringComparison.Ordinal); break;
                case "a number where a string belongs": training["optimizer"] = 5; break;
                case "a null tensor name": state["tensors"]!.AsArray().Add(null); break;
                case "a tensor name listed twice": state["tensors"]!.AsArray().Add("exp_avg"); break;
                case "a null hyper-parameter": group["options"]!["beta1"] = null; break;
                case "a hyper-parameter of the wrong type": group["options"]!["amsgrad"] = "perhaps"; break;
                case "a hyper-parameter it does not have": group["options"]!["momentum_of_the_moon"] = "1"; break;
                case "no moments stored": state["tensors"] = new System.Text.Json.Nodes.JsonArray(); break;
                default:
                    var parameters = group["parameters"]!.AsArray().Select(p => (string)p!).ToArray();
                    group["parameters"] = new System.Text.Json.Nodes.JsonArray(parameters[0]);
                    var second = System.Text.Json.Nodes.JsonNode.Parse(group.ToJsonString())!.AsObject();
                    second["parameters"] = new System.Text.Json.Nodes.JsonArray(parameters[1]);
                    training["groups"]!.AsArray().Add(second);
                    break;
            }
            metadata["checkpointgen.training"] = text ?? training.ToJsonString();
        });
        using var resumed = Model(seed: 2);
        using var other = Create("Adam", resumed.TrainableParameters());
        Train(resumed, other, 2, 3);
        using var model = new ModelSnapshot(resumed);
        var moments = MomentsOf(other);
        var options = Options(other);
        var training = new TrainingState { Optimizer = other, Step = 7 };

        var error = Assert.ThrowsAny<Exception>(() => resumed.LoadCheckpoint(path, training));

        Assert.True(error is CheckpointFormatException or CheckpointMismatchException, error.ToString());
        Assert.Contains(expected, error.Message);
        model.AssertUnchanged(resumed);
        Assert.Equal(7, training.Step);
        Assert.Equal(moments, MomentsOf(other));
        Assert.Equal(options, Options(other));
    }

    /// <summary>The optimizer's hyper-parameters as text, to compare before and after.</summary>
    private static List<string> Options(optim.Optimizer optimizer)
        => ((OptimizerHelper)optimizer).state_dict().Options
            .SelectMany(o => o.GetType().GetFields().Select(f => $"{f.Name}={f.GetValue(o)}").Concat(o.GetType().GetProperties().Select(p => $"{p.Name}={p.GetValue(o)}")))
            .ToList();

    /// <summary>The optimizer's state tensors as bytes, to compare before and after.</summary>
    private static List<string> MomentsOf(optim.Optimizer optimizer)
        => ((OptimizerHelper)optimizer).state_dict().State
            .SelectMany(s => s.GetType().GetFields().Where(f => f.FieldType == typeof(Tensor)).Select(f => f.GetValue(s) as Tensor))
            .Select(t => t is null ? "null" : Convert.ToBase64String(ModelSnapshot.BytesOf(t)))
            .ToList();
}
