using System.Collections.Generic;
using TorchSharp;

namespace CheckpointGen;

/// <summary>
/// What resuming a run needs beside the weights: the optimizer's state (for the trainable parameters, keyed by name)
/// and the run's progress. Saved with <c>SaveCheckpoint(path, training)</c> into the same file; filled by
/// <c>LoadCheckpoint(path, training)</c>.
/// </summary>
public sealed class TrainingState
{
    /// <summary>The optimizer whose state is saved, or filled on load. Its parameters must be trainable parameters of the model.</summary>
    public torch.optim.Optimizer? Optimizer { get; set; }

    /// <summary>The training step reached.</summary>
    public long Step { get; set; }

    /// <summary>The epoch reached.</summary>
    public int Epoch { get; set; }

    /// <summary>Anything else the run wants back (a data loader position, a learning-rate schedule's state, ...).</summary>
    public Dictionary<string, string> Metadata { get; set; } = [];
}
