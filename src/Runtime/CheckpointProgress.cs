using System;

namespace CheckpointGen;

/// <summary>How far a save or load of tensor data has come.</summary>
/// <param name="BytesDone">Tensor bytes written or read so far.</param>
/// <param name="BytesTotal">Tensor bytes the operation moves in all.</param>
public readonly record struct CheckpointProgress(long BytesDone, long BytesTotal)
{
    /// <summary>Between 0 and 1.</summary>
    public double Fraction => BytesTotal == 0 ? 1 : (double)BytesDone / BytesTotal;
}

/// <summary>
/// Counts bytes as they move and reports them: once per mebibyte they cross, and at the end. Threads may advance it
/// together (a load reads on two): reports go out one at a time, in increasing order.
/// </summary>
internal sealed class ProgressCounter(IProgress<CheckpointProgress> sink, long total)
{
    private const long Step = 1 << 20;

    private readonly object gate = new();
    private long done;

    public void Advance(long bytes)
    {
        lock (gate)
        {
            done += bytes;
            if (done / Step != (done - bytes) / Step || done == total)
            {
                sink.Report(new CheckpointProgress(done, total));
            }
        }
    }

    public static ProgressCounter? For(IProgress<CheckpointProgress>? sink, long total) => sink is null ? null : new ProgressCounter(sink, total);
}
