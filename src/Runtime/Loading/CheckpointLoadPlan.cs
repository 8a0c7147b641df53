using System;
using System.Collections.Generic;
using CheckpointGen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace CheckpointGen.Loading;

/// <summary>
/// A checkpoint that has passed every check, with its tensors read into memory of their own. Only <see cref="Apply"/>
/// changes the model and the optimizer, and nothing in it can be refused; disposing frees what was not applied.
/// </summary>
internal sealed class CheckpointLoadPlan(
    Dictionary<string, Tensor> state, IReadOnlyList<string> weights, Dictionary<string, Tensor> staged,
    OptimizerRestore? restore, TrainingSnapshot? snapshot, CheckpointLoadReport report) : IDisposable
{
    public CheckpointLoadReport Report { get; } = report;

    /// <summary>The checked state of the training state's learning-rate scheduler, when it has one.</summary>
    public SchedulerRestore? Scheduler { get; init; }

    public void Apply(TrainingState? training)
    {
        using (no_grad())
        {
            foreach (var key in weights)
            {
                Install(state[key], staged[key]);
            }
        }
        restore?.Apply(staged);
        Scheduler?.Apply();
        if (training is not null && snapshot is not null)
        {
            training.Step = snapshot.Step;
            training.Epoch = snapshot.Epoch;
            training.Metadata = new Dictionary<string, string>(snapshot.Metadata, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Puts staged values into a model tensor. A contiguous CPU tensor takes the staged memory as its own: no second
    /// copy. The tensor object stays the same, so optimizers and modules holding it see the loaded values.
    /// </summary>
    public static void Install(Tensor target, Tensor staged)
    {
        if (target.device_type == DeviceType.CPU && target.is_contiguous() && target.storage_offset() == 0)
        {
            target.set_(staged);
        }
        else
        {
            target.copy_(staged);
        }
    }

    public void Dispose()
    {
        foreach (var tensor in staged.Values)
        {
            tensor.Dispose();
        }
        staged.Clear();
    }
}
