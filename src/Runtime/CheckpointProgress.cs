using System;
using System.Threading;

namespace CheckpointGen;

/// <summary>How far a save or load of tensor data has come.</summary>
/// <param name="BytesDone">Tensor bytes written or read so far.</param>
/// <param name="BytesTotal">Tensor bytes the operation moves in all.</param>
public readonly record struct CheckpointProgress(long BytesDone, long BytesTotal)
{
    /// <summary>Between 0 and 1.</summary>
    public double Fraction => BytesTotal == 0 ? 1 : (double)BytesDone / BytesTotal;
}

/// <summary>Counts bytes as they move and reports them: once per mebibyte they cross, and at the end.</summary>
internal sealed class ProgressCounter(IProgress<CheckpointProgress> sink, long total)
{
    private const long Step = 1 << 20;

    private long done;

    public void Advance(long bytes)
    {
        var now = Interlocked.Add(ref done, bytes);
        if (now / Step != (now - bytes) / Step || now == total)
        {
            sink.Report(new CheckpointProgress(now, total));
        }
    }

    public static ProgressCounter? For(IProgress<CheckpointProgress>? sink, long total) => sink is null ? null : new ProgressCounter(sink, total);
}
