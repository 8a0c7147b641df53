using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>
/// A trained <see cref="ReliabilityModel"/> with an Adam optimizer of two parameter groups, saved with its training state;
/// and a second model and optimizer, trained otherwise, that mutated files are loaded into. Each case starts from the
/// second pair's state as it was (<see cref="Reset"/>), so a load that changes anything shows.
/// </summary>
public sealed class TrainedFixture : IDisposable
{
    private readonly ModelSnapshot modelBefore;
    private readonly byte[] optimizerBefore;

    public TrainedFixture(int seed)
    {
        manual_seed(seed);
        using (var saved = new ReliabilityModel())
        {
            using var optimizer = Adam(saved);
            Train(saved, optimizer, steps: 3);
            var training = new TrainingState { Optimizer = optimizer, Step = 3, Epoch = 1, Metadata = { ["loader"] = "shard 7", ["note"] = "fuzz" } };
            using var file = new System.IO.MemoryStream();
            saved.SaveCheckpoint(file, training);
            Checkpoint = file.ToArray();
        }
        Model = new ReliabilityModel();
        Optimizer = Adam(Model);
        Train(Model, Optimizer, steps: 2);
        modelBefore = new ModelSnapshot(Model);
        optimizerBefore = CheckpointBytes.Save(Optimizer);
    }

    /// <summary>The saved checkpoint, with its training state.</summary>
    public byte[] Checkpoint { get; }

    public ReliabilityModel Model { get; }

    public OptimizerHelper Optimizer { get; }

    /// <summary>A training state to load into, as a caller would hand it over.</summary>
    public static TrainingState NewTraining(OptimizerHelper optimizer) => new() { Optimizer = optimizer, Step = 99, Epoch = 9, Metadata = { ["mine"] = "x" } };

    /// <summary>What changed in the model, the optimizer or the training state since <see cref="Reset"/>.</summary>
    public IReadOnlyList<string> Changes(TrainingState? training)
    {
        var changes = modelBefore.Changes(Model).ToList();
        if (!CheckpointBytes.Save(Optimizer).AsSpan().SequenceEqual(optimizerBefore))
        {
            changes.Add("the optimizer");
        }
        if (training is not null && (training.Step != 99 || training.Epoch != 9 || training.Metadata.Count != 1 || training.Metadata.GetValueOrDefault("mine") != "x"))
        {
            changes.Add("the training state's step, epoch or metadata");
        }
        return changes;
    }

    public void Reset()
    {
        modelBefore.Restore(Model);
        CheckpointBytes.Restore(Optimizer, optimizerBefore);
    }

    public void Dispose()
    {
        modelBefore.Dispose();
        Optimizer.Dispose();
        Model.Dispose();
    }

    /// <summary>Adam over the trainable parameters, in two groups with their own learning rates.</summary>
    private static Adam Adam(ReliabilityModel model)
    {
        var parameters = model.TrainableParameters().ToList();
        return optim.Adam([new Adam.ParamGroup(parameters.Take(2), lr: 0.01), new Adam.ParamGroup(parameters.Skip(2), lr: 0.001)]);
    }

    private static void Train(ReliabilityModel model, OptimizerHelper optimizer, int steps) => SyntheticTraining.Steps(model, optimizer, steps, inputs: 8);
}

/// <summary>Optimizer steps on synthetic data, in training mode: what gives a model and its optimizer a state of their own.</summary>
public static class SyntheticTraining
{
    public static void Steps(nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer, int steps, long inputs)
    {
        model.train();
        for (var step = 0; step < steps; step++)
        {
            using var x = randn(32, inputs);
            using var y = model.forward(x);
            using var loss = y.pow(2).mean();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        model.eval();
    }
}
