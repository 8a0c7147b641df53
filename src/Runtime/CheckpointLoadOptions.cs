using System;

namespace CheckpointGen;

/// <summary>How <see cref="CheckpointExtensions.LoadCheckpoint(ICheckpointable, string, CheckpointLoadOptions?)"/> treats what is not strictly expected.</summary>
public sealed record CheckpointLoadOptions
{
    /// <summary>The defaults: pretrained keys in the file are skipped; pretrained fingerprints and the checksum are verified.</summary>
    public static CheckpointLoadOptions Default { get; } = new();

    /// <summary>
    /// Accept (and skip) keys under a pretrained prefix, as an old full checkpoint has them.
    /// When <see langword="false"/>, such keys are reported as unexpected. Default: <see langword="true"/>.
    /// </summary>
    public bool SkipPretrainedKeys { get; init; } = true;

    /// <summary>
    /// Refuse a checkpoint whose recorded pretrained fingerprint differs from this model's pretrained
    /// parts (the trainable part was trained against other frozen weights). Default: <see langword="true"/>.
    /// </summary>
    public bool VerifyPretrainedFingerprints { get; init; } = true;

    /// <summary>
    /// Verify the data section against the checksum recorded at save, before anything reaches the model, and refuse a
    /// damaged file. It costs one hash pass over the bytes read (xxHash3, far faster than the disk). Default: <see langword="true"/>.
    /// </summary>
    public bool VerifyChecksum { get; init; } = true;

    /// <summary>
    /// Told how many tensor bytes have been loaded, every mebibyte, in increasing order; for a progress bar on large
    /// checkpoints. A file is read on two threads, and either may report (one at a time).
    /// </summary>
    public IProgress<CheckpointProgress>? Progress { get; init; }
}
