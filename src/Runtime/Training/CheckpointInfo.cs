using System.Collections.Generic;

namespace CheckpointGen;

/// <summary>A checkpoint a <see cref="CheckpointManager"/> wrote: its file, the step it was saved at and the metrics saved with it.</summary>
/// <param name="Path">The full path of the file.</param>
/// <param name="Step">The training step, from the file's <c>checkpointgen.step</c> entry.</param>
/// <param name="Metrics">The metrics, from the file's <c>checkpointgen.metrics</c> entry; empty when none were given.</param>
public sealed record CheckpointInfo(string Path, long Step, IReadOnlyDictionary<string, double> Metrics);

/// <summary>A file <see cref="CheckpointManager.RestoreLatest"/> passed over, and why (damaged, truncated, not the manager's).</summary>
/// <param name="Path">The full path of the file.</param>
/// <param name="Reason">What was wrong with it, as the load or the header check said.</param>
public sealed record SkippedCheckpoint(string Path, string Reason);
