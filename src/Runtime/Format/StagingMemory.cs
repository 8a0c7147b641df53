using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>
/// The memory a load reads tensors into before the checksum has passed.
/// <para>
/// Fresh memory costs the kernel's zeroing of every page on first touch, more than the read itself. So large tensors
/// live in blocks of this class, and a block that libtorch frees while a load is under way is kept for the next load:
/// when a load installs its tensors, the memory the parameters had before is freed, and where that memory was a block
/// (an earlier load's), the next load reads into it without a fault. A block comes back only when libtorch frees its
/// storage, so memory that anything still views (a user's alias of the old weights) is never reused. Each load
/// releases the blocks kept since before it began: between loads, at most the blocks the last loads freed stay, which
/// is the trainable state of the last model loaded, and only for <see cref="KeepFor"/>: back-to-back loads reuse them,
/// while a process that loaded once and trains on gets the memory back.
/// </para>
/// <para>
/// New blocks are asked for in huge pages and populated in one call, which makes the first touch a few faults. Advice
/// only: where the kernel declines, reading proceeds as before.
/// </para>
/// </summary>
internal static unsafe partial class StagingMemory
{
    private const int HugePage = 2 << 20;
    private const int MadviseHugePage = 14;
    private const int MadvisePopulateWrite = 23;

    /// <summary>Smaller tensors are plain <c>empty</c> ones: their pages cost little, and a block would waste most of a huge page.</summary>
    private const long SmallestBlock = 1 << 20;

    private static readonly object Gate = new();
    private static readonly Dictionary<nint, long> Capacities = [];
    private static readonly List<FreeBlock> Kept = [];
    private static readonly Timer Idle = new(_ => ReleaseIfIdle());
    private static long generation;
    private static int activeLoads;

    /// <summary>How long blocks stay kept after the last load ended, waiting for the next one.</summary>
    internal static TimeSpan KeepFor { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes held in blocks no tensor uses, ready for the next load.</summary>
    internal static long KeptBytes
    {
        get
        {
            lock (Gate)
            {
                var total = 0L;
                foreach (var block in Kept)
                {
                    total += block.Capacity;
                }
                return total;
            }
        }
    }

    /// <summary>Frees every kept block: the next load reads into fresh memory, as the first loads of a process do.</summary>
    internal static void ReleaseKept() => ReleaseKeptBefore(long.MaxValue);

    /// <summary>
    /// Marks a load: blocks freed until the scope ends are kept for the next one, and when it ends, blocks kept since
    /// before it began are released.
    /// </summary>
    public static IDisposable LoadScope()
    {
        lock (Gate)
        {
            activeLoads++;
            return new Scope(++generation);
        }
    }

    /// <summary>An uninitialized contiguous CPU tensor to read into: in a kept block when one fits, in a new block, or plain.</summary>
    public static Tensor Empty(long[] shape, ScalarType dtype)
    {
        var bytes = Dtypes.ByteLength(dtype, shape) ?? 0;
        if (bytes < SmallestBlock || !TryRent(bytes, out var block))
        {
            var plain = empty(shape, dtype, CPU);
            Prepare(plain);
            return plain;
        }
        IntPtr handle;
        fixed (long* sizes = shape)
        {
            handle = THSTensor_new(block, &Release, sizes, shape.Length, (sbyte)dtype, (sbyte)dtype, deviceType: 0, deviceIndex: 0, requiresGrad: false);
        }
        if (handle == IntPtr.Zero)
        {
            // libtorch refused the blob and will never call the deleter: the block goes back by hand.
            Free(block);
            return empty(shape, dtype, CPU);
        }
        return Tensor.UnsafeCreateTensor(handle);
    }

    /// <summary>Asks for huge pages over a fresh tensor's memory and populates it in one call (Linux; advice only).</summary>
    public static void Prepare(Tensor tensor)
    {
        var length = tensor.numel() * tensor.element_size();
        if (!OperatingSystem.IsLinux() || length < HugePage)
        {
            return;
        }
        nint start;
        using (var flat = tensor.view(-1))
        using (var head = flat.narrow(0, 0, 1))
        {
            fixed (byte* data = head.bytes)
            {
                start = (nint)data;
            }
        }
        Advise(start, length);
    }

    private static bool TryRent(long bytes, out nint block)
    {
        var capacity = (bytes + HugePage - 1) / HugePage * HugePage;
        lock (Gate)
        {
            for (var i = Kept.Count - 1; i >= 0; i--)
            {
                if (Kept[i].Capacity == capacity)
                {
                    block = Kept[i].Address;
                    Kept.RemoveAt(i);
                    return true;
                }
            }
        }
        try
        {
            block = (nint)NativeMemory.AlignedAlloc((nuint)capacity, HugePage);
        }
        catch (OutOfMemoryException)
        {
            block = 0;
            return false;
        }
        if (OperatingSystem.IsLinux())
        {
            Advise(block, capacity);
        }
        lock (Gate)
        {
            Capacities.Add(block, capacity);
        }
        return true;
    }

    /// <summary>libtorch's deleter for a block's storage, called on whichever thread frees it last.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Release(nint block) => Free(block);

    private static void Free(nint block)
    {
        lock (Gate)
        {
            if (activeLoads > 0)
            {
                Kept.Add(new FreeBlock(block, Capacities[block], generation));
                return;
            }
            Capacities.Remove(block);
        }
        NativeMemory.AlignedFree((void*)block);
    }

    private static void EndLoad(long began)
    {
        lock (Gate)
        {
            activeLoads--;
        }
        ReleaseKeptBefore(began);
        lock (Gate)
        {
            if (activeLoads == 0 && Kept.Count > 0)
            {
                Idle.Change(KeepFor, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private static void ReleaseIfIdle()
    {
        lock (Gate)
        {
            if (activeLoads > 0)
            {
                // That load's end releases what is older, and sets the timer again.
                return;
            }
        }
        ReleaseKept();
    }

    /// <summary>Frees the blocks kept since before the load numbered <paramref name="began"/> started.</summary>
    private static void ReleaseKeptBefore(long began)
    {
        var released = new List<nint>();
        lock (Gate)
        {
            for (var i = Kept.Count - 1; i >= 0; i--)
            {
                if (Kept[i].Generation < began)
                {
                    released.Add(Kept[i].Address);
                    Capacities.Remove(Kept[i].Address);
                    Kept.RemoveAt(i);
                }
            }
        }
        foreach (var block in released)
        {
            NativeMemory.AlignedFree((void*)block);
        }
    }

    private static void Advise(nint start, long length)
    {
        // Whole pages only, inside the range: advice never reaches memory that belongs to something else.
        var first = (start + HugePage - 1) & ~(nint)(HugePage - 1);
        var end = (start + (nint)length) & ~(nint)(HugePage - 1);
        if (end > first)
        {
            _ = madvise(first, end - first, MadviseHugePage);
        }
        var pageStart = (start + 4095) & ~(nint)4095;
        var pageEnd = (start + (nint)length) & ~(nint)4095;
        if (pageEnd > pageStart)
        {
            _ = madvise(pageStart, pageEnd - pageStart, MadvisePopulateWrite);
        }
    }

    private readonly record struct FreeBlock(nint Address, long Capacity, long Generation);

    private sealed class Scope(long began) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                EndLoad(began);
            }
        }
    }

    [LibraryImport("libc")]
    private static partial int madvise(nint address, nint length, int advice);

    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_new(
        nint data, delegate* unmanaged[Cdecl]<nint, void> deleter, long* sizes, int sizesLength,
        sbyte scalarType, sbyte dtype, int deviceType, int deviceIndex, [MarshalAs(UnmanagedType.U1)] bool requiresGrad);
}
