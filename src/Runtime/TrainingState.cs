using System.Collections.Generic;
using TorchSharp;

namespace CheckpointGen;

/// <summary>
/// What resuming a run needs beside the weights: the optimizer's state (for the trainable parameters, keyed by name),
/// the learning-rate scheduler's state and the run's progress. Saved with <c>SaveCheckpoint(path, training)</c> into the same file; filled by
/// <c>LoadCheckpoint(path, training)</c>.
/// </summary>
public sealed class TrainingState
{
    /// <summary>The optimizer whose state is saved, or filled on load. Its parameters must be trainable parameters of the model.</summary>
    public torch.optim.Optimizer? Optimizer { get; set; }

    /// <summary>
    /// The learning-rate scheduler whose state (epoch and step counters, per-group rates, its hyper-parameters) is saved,
    /// or filled on load. It must drive <see cref="Optimizer"/>. Schedulers that hold other schedulers or parts of the
    /// optimizer (<c>SequentialLR</c>, <c>ChainedLR</c>, <c>OneCycleLR</c>) are refused with a <see cref="System.NotSupportedException"/>.
    /// </summary>
    public torch.optim.lr_scheduler.LRScheduler? Scheduler { get; set; }

    /// <summary>The training step reached.</summary>
    public long Step { get; set; }

    /// <summary>The epoch reached.</summary>
    public int Epoch { get; set; }

    /// <summary>Anything else the run wants back (a data loader position, a random seed, ...).</summary>
    public Dictionary<string, string> Metadata { get; set; } = [];
}
