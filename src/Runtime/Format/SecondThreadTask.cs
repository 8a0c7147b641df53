using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace CheckpointGen.Format;

/// <summary>
/// Work of the calling thread's that the <see cref="SecondThread"/> may do meanwhile: run once, by the second thread if it
/// takes it before the caller needs the result, else by the caller.
/// </summary>
internal sealed class SecondThreadTask<T> : ISecondThreadWork
{
    private const int NotStarted = 0;
    private const int Running = 1;
    private const int Taken = 2;

    private readonly Func<T> work;
    private int state;
    private volatile bool done;
    private T? result;
    private ExceptionDispatchInfo? failure;

    private SecondThreadTask(Func<T> work, bool readFollows)
    {
        this.work = work;
        ReadFollows = readFollows;
    }

    public bool ReadFollows { get; }

    /// <summary>Offers <paramref name="work"/> to the second thread when <paramref name="offer"/> says so; otherwise it runs at <see cref="Join"/>.</summary>
    /// <param name="work">The work: it must touch nothing the caller touches before <see cref="Join"/> or <see cref="Forget"/>.</param>
    /// <param name="offer">Whether the second thread may take it.</param>
    /// <param name="readFollows">Whether a read is offered after it, which the thread then awaits.</param>
    public static SecondThreadTask<T> Start(Func<T> work, bool offer, bool readFollows)
    {
        var task = new SecondThreadTask<T>(work, readFollows);
        if (offer)
        {
            SecondThread.TryOffer(task);
        }
        return task;
    }

    public void Help()
    {
        if (Interlocked.CompareExchange(ref state, Running, NotStarted) != NotStarted)
        {
            return;
        }
        try
        {
            result = work();
        }
        catch (Exception e)
        {
            failure = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            // The slot is freed before the caller can go on: the read it offers next must find it free.
            SecondThread.Withdraw(this);
            done = true;
        }
    }

    /// <summary>The work's result (or its exception), running it here if the second thread has not taken it.</summary>
    public T Join()
    {
        if (TakeBack())
        {
            return work();
        }
        WaitUntilDone();
        failure?.Throw();
        return result!;
    }

    /// <summary>Ends the task without its result: the work does not start if it has not; if it has, this waits until it is done.</summary>
    public void Forget()
    {
        if (!TakeBack())
        {
            WaitUntilDone();
        }
    }

    /// <summary>Spins (yielding, never sleeping) while the second thread runs the work: it is short, and taken only once the thread runs.</summary>
    private void WaitUntilDone()
    {
        var spin = default(SpinWait);
        while (!done)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Whether the second thread has not taken the work, which is now the caller's (and the offer withdrawn).</summary>
    private bool TakeBack()
    {
        if (Interlocked.CompareExchange(ref state, Taken, NotStarted) != NotStarted)
        {
            return false;
        }
        SecondThread.Withdraw(this);
        return true;
    }
}
