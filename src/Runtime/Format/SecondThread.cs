using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace CheckpointGen.Format;

/// <summary>Work the <see cref="SecondThread"/> takes when it is offered.</summary>
internal interface ISecondThreadWork
{
    /// <summary>Does the thread's part of the work; the caller of <see cref="SecondThread.TryOffer"/> waits for it as the work says.</summary>
    void Help();

    /// <summary>Whether a read is offered after this work, which the thread then awaits rather than sleeping.</summary>
    bool ReadFollows { get; }
}

/// <summary>
/// The thread that takes a load's work beside the calling thread (the header while the model is examined, then half of
/// the read): one for the process, started on first use, asleep in between. A thread of its own rather than the thread
/// pool's: the pool wakes a spare worker beside the one that takes the work, and on a two-core machine that third
/// runnable thread led the scheduler to put the second thread on the reading thread's core in about a third of the
/// loads, which then took 1.6 times as long. Each wake keeps it off the core of the thread that woke it.
/// </summary>
internal static partial class SecondThread
{
    /// <summary>How long the thread, done with work that a read follows (or finding offered work withdrawn), waits for an offer before it sleeps again.</summary>
    public static readonly TimeSpan AwaitOffer = TimeSpan.FromMilliseconds(5);

    private static readonly object Gate = new();
    private static readonly SemaphoreSlim WakeSignal = new(0);
    private static ISecondThreadWork? offered;
    private static Thread? thread;
    // Whether the thread is awake or has been signalled to wake: work offered meanwhile needs no signal of its own.
    private static bool awake;
    // The cores the thread may run on, once it runs (Linux); and the core of the thread that started it, -1 where unknown.
    private static Cores? cores;
    private static int starterCore = -1;

    /// <summary>Whether there is a core for the thread beside the calling one.</summary>
    public static bool Available => Environment.ProcessorCount > 1;

    /// <summary>Hands <paramref name="work"/> to the thread, unless other work has it (false: the caller does it all).</summary>
    public static bool TryOffer(ISecondThreadWork work)
    {
        if (!Available)
        {
            return false;
        }
        bool signal;
        lock (Gate)
        {
            if (offered is not null)
            {
                return false;
            }
            offered = work;
            signal = WakeLocked();
        }
        if (signal)
        {
            WakeSignal.Release();
        }
        return true;
    }

    /// <summary>Takes back <paramref name="work"/> if the thread has not taken it yet, so that the next offer finds the thread free.</summary>
    public static void Withdraw(ISecondThreadWork work)
    {
        lock (Gate)
        {
            if (ReferenceEquals(offered, work))
            {
                offered = null;
            }
        }
    }

    /// <summary>Marks the thread awake, starting it on first use; true when it must be signalled.</summary>
    private static bool WakeLocked()
    {
        if (awake)
        {
            return false;
        }
        awake = true;
        var wakerCore = OperatingSystem.IsLinux() ? sched_getcpu() : -1;
        if (thread is null)
        {
            starterCore = wakerCore;
            thread = new Thread(Loop) { IsBackground = true, Name = "CheckpointGen second reader" };
            thread.Start();
        }
        else
        {
            // Placed by the waker before the signal, not by itself once it runs: the kernel wakes a thread on a
            // core it may run on, and woken on the waker's core it waited there behind the waker (0.5-0.8 ms in
            // the median load, most of the read in one load of ten) before it could move.
            cores?.KeepOff(wakerCore);
        }
        return true;
    }

    private static void Loop()
    {
        lock (Gate)
        {
            // Started on a core of the kernel's choosing, the thread moves itself off its starter's once.
            cores = Cores.OfThisThread();
            cores?.KeepOff(starterCore);
        }
        while (true)
        {
            WakeSignal.Wait();
            while (AwaitOffered() && HelpOffered())
            {
            }
        }
    }

    /// <summary>Spins until work is offered (true) or <see cref="AwaitOffer"/> has passed (false, and the thread counts as asleep).</summary>
    private static bool AwaitOffered()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var spin = default(SpinWait);
        while (true)
        {
            if (Volatile.Read(ref offered) is not null)
            {
                return true;
            }
            if (clock.Elapsed > AwaitOffer)
            {
                lock (Gate)
                {
                    if (offered is not null)
                    {
                        return true;
                    }
                    awake = false;
                    return false;
                }
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// Does the work offered, unless it was withdrawn meanwhile; true when the thread stays awake for a read that follows
    /// (or, withdrawn, for whatever comes next). A method of its own, so that nothing of the work (a read's progress sink,
    /// say) stays referenced while the thread sleeps.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool HelpOffered()
    {
        ISecondThreadWork? work;
        lock (Gate)
        {
            work = offered;
        }
        if (work is null)
        {
            return true;
        }
        work.Help();
        lock (Gate)
        {
            if (ReferenceEquals(offered, work))
            {
                offered = null;
            }
            // Work offered meanwhile is taken before sleeping, read or not.
            if (work.ReadFollows || offered is not null)
            {
                return true;
            }
            awake = false;
            return false;
        }
    }

    /// <summary>The cores a thread may run on (Linux), narrowed by any thread to keep it off one.</summary>
    private sealed unsafe class Cores
    {
        // cpu_set_t: 1024 bits.
        private const int Words = 16;
        private readonly int threadId;
        private readonly ulong[] allowed;

        private Cores(int threadId, ulong[] allowed)
        {
            this.threadId = threadId;
            this.allowed = allowed;
        }

        /// <summary>The calling thread's cores, or <see langword="null"/> off Linux or where they cannot be read.</summary>
        public static Cores? OfThisThread()
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }
            var mask = new ulong[Words];
            try
            {
                fixed (ulong* bits = mask)
                {
                    return sched_getaffinity(0, Words * sizeof(ulong), bits) == 0 ? new Cores(gettid(), mask) : null;
                }
            }
            catch (EntryPointNotFoundException)
            {
                // A C library older than gettid (glibc 2.30): the thread runs where the kernel puts it.
                return null;
            }
        }

        /// <summary>Keeps the thread off <paramref name="core"/>, unless it is the only core allowed or unknown.</summary>
        public void KeepOff(int core)
        {
            if (core < 0 || core >= Words * 64 || (allowed[core / 64] & (1UL << (core % 64))) == 0)
            {
                return;
            }
            var mask = (ulong[])allowed.Clone();
            mask[core / 64] &= ~(1UL << (core % 64));
            if (Array.TrueForAll(mask, word => word == 0))
            {
                return;
            }
            fixed (ulong* bits = mask)
            {
                // Advice only: where the kernel refuses, the thread runs where it may.
                _ = sched_setaffinity(threadId, Words * sizeof(ulong), bits);
            }
        }
    }

    [LibraryImport("libc")]
    private static partial int sched_getcpu();

    [LibraryImport("libc")]
    private static partial int gettid();

    [LibraryImport("libc")]
    private static unsafe partial int sched_getaffinity(int thread, nint size, ulong* mask);

    [LibraryImport("libc")]
    private static unsafe partial int sched_setaffinity(int thread, nint size, ulong* mask);
}
