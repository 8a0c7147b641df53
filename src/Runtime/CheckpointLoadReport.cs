using System.Collections.Generic;

namespace CheckpointGen;

/// <summary>What a successful load did.</summary>
public sealed record CheckpointLoadReport
{
    /// <summary>The file (or stream description) that was read.</summary>
    public required string Source { get; init; }

    /// <summary>The keys copied into the model.</summary>
    public required IReadOnlyList<string> LoadedKeys { get; init; }

    /// <summary>Keys in the file under a pretrained prefix, which were not loaded (an old full checkpoint has them).</summary>
    public required IReadOnlyList<string> SkippedPretrainedKeys { get; init; }

    /// <summary>
    /// Pretrained prefixes verified against the file: the structure and the weights the checkpoint was saved with match
    /// the model's. Every pretrained part is in exactly one of this list and <see cref="FingerprintsNotChecked"/>.
    /// </summary>
    public required IReadOnlyList<string> FingerprintsChecked { get; init; }

    /// <summary>
    /// Pretrained prefixes of the model whose weights were not compared: the options turned verification off, or the file
    /// records no weights for the part (a checkpoint not written by CheckpointGen, or by a version that recorded the
    /// structure only).
    /// </summary>
    public required IReadOnlyList<string> FingerprintsNotChecked { get; init; }

    /// <summary>The same as <see cref="FingerprintsChecked"/>: the weights of every checked part are compared.</summary>
    public IReadOnlyList<string> ContentFingerprintsChecked { get; init; } = [];

    /// <summary>Whether the data was verified against a checksum recorded in the file.</summary>
    public bool ChecksumVerified { get; init; }

    /// <summary>The model type recorded in the file, when it has CheckpointGen metadata.</summary>
    public string? SavedModelType { get; init; }

    /// <summary>The tensor bytes copied into the model.</summary>
    public long BytesLoaded { get; init; }
}
