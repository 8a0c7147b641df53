using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.ExceptionServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace CheckpointGen.Format;

/// <summary>
/// Reads a file's pieces on two threads at once, with positional reads, and appends them to a hash in file order:
/// each thread takes the next piece and reads it; whichever thread is free hashes the pieces read so far, in order,
/// usually the one it just read, from its own cache.
/// </summary>
/// <remarks>
/// One thread copying while another hashes what it copied makes the hash read every byte back from memory, which
/// slows the copy (they share memory bandwidth); two threads that each hash what they read do not, and two copy faster
/// than one. Neither thread waits for the other to hash (it may not be running: a scheduler can put both on one core), except
/// before reusing the buffer that bytes only hashed are read into. A piece's memory must stay in place until
/// <see cref="Run"/> returns, which it does only once neither thread touches any piece, whether the read succeeded or not.
/// </remarks>
internal sealed unsafe class ParallelRead
{
    private readonly SafeFileHandle file;
    private readonly IReadOnlyList<FilePiece> pieces;
    private readonly Xxh3? hash;
    private readonly ProgressCounter? progress;

    // Where each piece's bytes are once read (its destination, or the buffer of the thread that read it), and whether they are.
    private readonly nint[] bytesAt;
    private readonly int[] readDone;

    // Each thread's buffer for bytes only hashed: pinned, and held until Run returns, since the other thread may hash from it.
    private readonly byte[]?[] scratch = new byte[2][];
    private int lastTaken = -1;
    private int hashed;
    private int hashing;
    private volatile bool failed;

    private ParallelRead(SafeFileHandle file, IReadOnlyList<FilePiece> pieces, Xxh3? hash, ProgressCounter? progress)
    {
        this.file = file;
        this.pieces = pieces;
        this.hash = hash;
        this.progress = progress;
        bytesAt = new nint[pieces.Count];
        readDone = new int[pieces.Count];
    }

    /// <summary>Reads every piece into its memory, appending each to <paramref name="hash"/> when given, in file order.</summary>
    /// <param name="file">The file, opened for reading.</param>
    /// <param name="pieces">The pieces, in file order.</param>
    /// <param name="hash">The hash every piece is appended to, or <see langword="null"/>.</param>
    /// <param name="progress">Told of the bytes read into memory, by whichever thread read them.</param>
    /// <param name="twoThreads">
    /// Whether the second thread is asked to join (when there are two pieces or more, on a machine with more than one
    /// core). The calling thread reads alone until it joins, and does not wait for it if every piece is taken before it does.
    /// </param>
    /// <exception cref="EndOfStreamException">The file ends before a piece does.</exception>
    public static void Run(SafeFileHandle file, IReadOnlyList<FilePiece> pieces, Xxh3? hash, ProgressCounter? progress, bool twoThreads = true)
    {
        var reading = new ParallelRead(file, pieces, hash, progress);
        // The second thread's part: the pieces this thread has not taken yet when it joins.
        var second = SecondThreadTask<bool>.Start(
            () =>
            {
                reading.Work(thread: 1);
                return true;
            },
            offer: twoThreads && pieces.Count > 1,
            readFollows: false);
        Exception? failure = null;
        try
        {
            reading.Work(thread: 0);
        }
        catch (Exception e)
        {
            failure = e;
        }
        // A second thread that joined must stop touching the pieces' memory first; one that has not never will (its
        // part, run here instead, finds every piece taken, or the read failed, and returns at once).
        try
        {
            second.Join();
        }
        catch (Exception e)
        {
            failure ??= e;
        }
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
        // Both threads are done: whatever the last of them read and left to the other is hashed here.
        if (hash is not null)
        {
            reading.HashWhatIsRead();
            if (reading.hashed != pieces.Count)
            {
                throw new InvalidOperationException($"{pieces.Count - reading.hashed} of {pieces.Count} pieces were read but not hashed.");
            }
        }
    }

    /// <summary>Takes pieces until none is left or the other thread failed; <paramref name="thread"/> is 0 for the calling thread, 1 for the other.</summary>
    private void Work(int thread)
    {
        try
        {
            for (var i = Interlocked.Increment(ref lastTaken); i < pieces.Count && !failed; i = Interlocked.Increment(ref lastTaken))
            {
                var piece = pieces[i];
                var intoScratch = piece.Destination == 0;
                var bytes = intoScratch
                    ? (scratch[thread] ??= GC.AllocateUninitializedArray<byte>(FilePiece.Bytes, pinned: true)).AsSpan(0, piece.Length)
                    : new Span<byte>((void*)piece.Destination, piece.Length);
                ReadExactly(bytes, piece.Offset);
                if (hash is not null)
                {
                    fixed (byte* start = bytes)
                    {
                        bytesAt[i] = (nint)start;
                    }
                    Volatile.Write(ref readDone[i], 1);
                    HashWhatIsRead();
                    // The scratch buffer is read into again next: the piece in it must be hashed first.
                    if (intoScratch && !WaitUntilHashed(i))
                    {
                        return;
                    }
                }
                if (!intoScratch)
                {
                    progress?.Advance(piece.Length);
                }
            }
        }
        catch
        {
            failed = true;
            throw;
        }
    }

    /// <summary>
    /// Hashes, in order, every piece read since the last one hashed, unless the other thread is hashing: it then sees
    /// this thread's piece too, for whoever gives up hashing looks once more for a piece read meanwhile.
    /// </summary>
    private void HashWhatIsRead()
    {
        while (Interlocked.CompareExchange(ref hashing, 1, 0) == 0)
        {
            var next = hashed;
            for (; next < pieces.Count && Volatile.Read(ref readDone[next]) == 1; next++)
            {
                hash!.Append(new ReadOnlySpan<byte>((void*)bytesAt[next], pieces[next].Length));
                Volatile.Write(ref hashed, next + 1);
            }
            // A full fence, not a release: the look below must not be answered before the role is seen given up, or a
            // piece read meanwhile by a thread that found the role taken would be hashed by no one.
            Interlocked.Exchange(ref hashing, 0);
            if (next == pieces.Count || Volatile.Read(ref readDone[next]) == 0)
            {
                return;
            }
        }
    }

    /// <summary>Waits until piece <paramref name="index"/> is hashed, hashing when the other thread does not; false if the other thread failed.</summary>
    private bool WaitUntilHashed(int index)
    {
        var spin = default(SpinWait);
        while (Volatile.Read(ref hashed) <= index)
        {
            if (failed)
            {
                return false;
            }
            HashWhatIsRead();
            spin.SpinOnce(sleep1Threshold: -1);
        }
        return true;
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
}
