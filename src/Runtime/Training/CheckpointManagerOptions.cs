namespace CheckpointGen;

/// <summary>When a <see cref="CheckpointManager"/> saves, what it keeps, and whether it writes in the background.</summary>
public sealed record CheckpointManagerOptions
{
    /// <summary>The defaults: never due by itself, the newest 3 kept, written in the foreground.</summary>
    public static CheckpointManagerOptions Default { get; } = new();

    /// <summary><see cref="CheckpointManager.SaveIfDue"/> saves when <c>step % EveryNSteps == 0</c>; 0 (the default): never due.</summary>
    public int EveryNSteps { get; init; }

    /// <summary>The newest N checkpoints (by step) are kept; 0 keeps all. Default: 3. The checkpoint just saved is always kept.</summary>
    public int KeepLast { get; init; } = 3;

    /// <summary>And the best N by <see cref="Monitor"/>, among the checkpoints saved with that metric. Default: 0.</summary>
    public int KeepBest { get; init; }

    /// <summary>The metric that ranks checkpoints for <see cref="KeepBest"/> and <see cref="CheckpointManager.Best"/>, e.g. <c>"val_loss"</c>.</summary>
    public string? Monitor { get; init; }

    /// <summary>Lower values of <see cref="Monitor"/> are better (a loss); <see langword="false"/> for an accuracy. Default: <see langword="true"/>.</summary>
    public bool Minimize { get; init; } = true;

    /// <summary>
    /// Save returns once the trainable state and the training state are copied; the write, the flush to disk, the rename and
    /// the retention run in the background, one save at a time. Default: <see langword="false"/>.
    /// </summary>
    public bool Async { get; init; }
}
