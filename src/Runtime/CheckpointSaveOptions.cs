using System;

namespace CheckpointGen;

/// <summary>What a save writes beside the trainable weights, and who hears of its progress; mirrors <see cref="CheckpointLoadOptions"/>.</summary>
public sealed record CheckpointSaveOptions
{
    /// <summary>The defaults: the trainable weights only, no progress.</summary>
    public static CheckpointSaveOptions Default { get; } = new();

    /// <summary>
    /// What resuming needs, written into the same file: the optimizer's state for the trainable parameters (keyed by
    /// parameter name), its hyper-parameters, and the run's step, epoch and metadata.
    /// </summary>
    public TrainingState? Training { get; init; }

    /// <summary>Told how many tensor bytes have been written, every few megabytes; for a progress bar on large checkpoints.</summary>
    public IProgress<CheckpointProgress>? Progress { get; init; }
}
