using System;
using System.Threading;
using System.Threading.Tasks;

namespace CheckpointGen.Format;

/// <summary>
/// Hashes the pieces on another core, in order, while the caller moves the next ones. The pieces must stay in place
/// until <see cref="Complete"/> (or, on a failure path, <see cref="Drain"/>) returns: they are tensor memory, which
/// does not move.
/// </summary>
/// <remarks>
/// The caller never waits for a piece: hashing is faster than the copy that produces the pieces, so the hashing core
/// catches up, and a caller that waited at every piece would lose the time the hashing thread takes to wake up.
/// </remarks>
/// <param name="hash">The hash the pieces are appended to.</param>
internal sealed unsafe class PipelinedHash(Xxh3 hash)
{
    private Task pending = Task.CompletedTask;

    public void Append(Span<byte> piece)
    {
        fixed (byte* start = piece)
        {
            var (address, length) = ((nint)start, piece.Length);
            pending = pending.ContinueWith(
                previous =>
                {
                    // A piece is hashed only after every one before it was: a failure anywhere reaches Complete.
                    previous.GetAwaiter().GetResult();
                    hash.Append(new ReadOnlySpan<byte>((void*)address, length));
                },
                CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    /// <summary>For a buffer the caller reuses: hashed before returning.</summary>
    public void AppendNow(ReadOnlySpan<byte> piece)
    {
        pending.GetAwaiter().GetResult();
        hash.Append(piece);
    }

    /// <summary>
    /// On a failure path: waits for every piece, whatever became of it, so that the pieces' memory may be freed. The
    /// hash is then of no use.
    /// </summary>
    public void Drain() => ((IAsyncResult)pending).AsyncWaitHandle.WaitOne();

    /// <summary>Waits for every piece; after this, the pieces may be freed and the hash read.</summary>
    public void Complete() => pending.GetAwaiter().GetResult();
}
