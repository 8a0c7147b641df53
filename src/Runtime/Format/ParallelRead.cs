using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Win32.SafeHandles;

namespace CheckpointGen.Format;

/// <summary>
/// Reads a file's pieces on two threads at once, with positional reads, and appends them to a hash in file order:
/// each thread takes the next piece, reads it, and hashes it as soon as the piece before it is hashed, from the cache it
/// was just read into.
/// </summary>
/// <remarks>
/// One thread copying while another hashes what it copied makes the hash read every byte back from memory, which
/// slows the copy (they share memory bandwidth); two threads that each hash what they read do not, and copy twice as
/// fast. A piece's memory must stay in place until <see cref="Run"/> returns, which it does only once neither thread
/// touches any piece, whether the read succeeded or not.
/// </remarks>
internal sealed unsafe class ParallelRead
{
    private const int NotStarted = 0;
    private const int Running = 1;
    private const int NotNeeded = 2;

    private readonly SafeFileHandle file;
    private readonly IReadOnlyList<FilePiece> pieces;
    private readonly XxHash3? hash;
    private int lastTaken = -1;
    private int hashed;
    private long bytesRead;
    private long bytesReported;
    private volatile bool failed;
    private int helper = NotStarted;

    private ParallelRead(SafeFileHandle file, IReadOnlyList<FilePiece> pieces, XxHash3? hash)
    {
        this.file = file;
        this.pieces = pieces;
        this.hash = hash;
    }

    /// <summary>Reads every piece into its memory, appending each to <paramref name="hash"/> when given, in file order.</summary>
    /// <param name="file">The file, opened for reading.</param>
    /// <param name="pieces">The pieces, in file order.</param>
    /// <param name="hash">The hash every piece is appended to, or <see langword="null"/>.</param>
    /// <param name="progress">Told of the bytes read, on the calling thread.</param>
    /// <param name="helperStartsAfter">
    /// Work the second thread finishes before it joins (the model's fingerprints during a load); the calling thread
    /// reads alone until then. Its failure is its owner's to observe.
    /// </param>
    /// <exception cref="EndOfStreamException">The file ends before a piece does.</exception>
    public static void Run(SafeFileHandle file, IReadOnlyList<FilePiece> pieces, XxHash3? hash, ProgressCounter? progress, Task? helperStartsAfter)
    {
        var read = new ParallelRead(file, pieces, hash);
        var helping = (helperStartsAfter ?? Task.CompletedTask).ContinueWith(
            _ =>
            {
                if (Interlocked.CompareExchange(ref read.helper, Running, NotStarted) == NotStarted)
                {
                    read.Work(progress: null);
                }
            },
            CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        Exception? failure = null;
        try
        {
            read.Work(progress);
        }
        catch (Exception e)
        {
            failure = e;
        }
        // A helper that has not started never will; one that has must stop touching the pieces' memory first.
        if (Interlocked.CompareExchange(ref read.helper, NotNeeded, NotStarted) == Running)
        {
            ((IAsyncResult)helping).AsyncWaitHandle.WaitOne();
            failure ??= helping.Exception?.InnerException;
        }
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
        read.Report(progress);
    }

    /// <summary>Takes pieces until none is left or the other thread failed.</summary>
    private void Work(ProgressCounter? progress)
    {
        byte[]? scratch = null;
        try
        {
            for (var i = Interlocked.Increment(ref lastTaken); i < pieces.Count && !failed; i = Interlocked.Increment(ref lastTaken))
            {
                var piece = pieces[i];
                var span = piece.Destination != 0
                    ? new Span<byte>((void*)piece.Destination, piece.Length)
                    : (scratch ??= new byte[FilePiece.Bytes]).AsSpan(0, piece.Length);
                ReadExactly(span, piece.Offset);
                if (hash is not null)
                {
                    if (!WaitForTurn(i))
                    {
                        return;
                    }
                    hash.Append(span);
                    Volatile.Write(ref hashed, i + 1);
                }
                if (piece.Destination != 0)
                {
                    Interlocked.Add(ref bytesRead, piece.Length);
                    Report(progress);
                }
            }
        }
        catch
        {
            failed = true;
            throw;
        }
    }

    /// <summary>Tells <paramref name="progress"/> of what both threads read since the last report: on the calling thread only, so that it only grows.</summary>
    private void Report(ProgressCounter? progress)
    {
        var read = Interlocked.Read(ref bytesRead);
        if (progress is not null && read > bytesReported)
        {
            progress.Advance(read - bytesReported);
            bytesReported = read;
        }
    }

    private void ReadExactly(Span<byte> span, long offset)
    {
        for (var done = 0; done < span.Length;)
        {
            var read = RandomAccess.Read(file, span[done..], offset + done);
            if (read == 0)
            {
                throw new EndOfStreamException();
            }
            done += read;
        }
    }

    /// <summary>Waits until every piece before <paramref name="index"/> is hashed; false if the other thread failed meanwhile.</summary>
    private bool WaitForTurn(int index)
    {
        // The wait is one piece's hash on the other core, a few microseconds: spun, never slept.
        var spin = default(SpinWait);
        while (Volatile.Read(ref hashed) != index)
        {
            if (failed)
            {
                return false;
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
        return true;
    }
}
