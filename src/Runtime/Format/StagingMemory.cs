using System;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>
/// Fresh tensors that a load reads into are untouched memory: on Linux every 4 KiB page would fault and be zeroed on
/// first write, which costs more than copying the data in. Asking for huge pages and populating them in one call
/// makes that a few faults. Advice only: where the kernel declines, reading proceeds as before.
/// </summary>
internal static partial class StagingMemory
{
    private const int HugePage = 2 << 20;
    private const int MadviseHugePage = 14;
    private const int MadvisePopulateWrite = 23;

    public static unsafe void Prepare(Tensor tensor)
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
        // Whole pages only, inside the tensor: advice never reaches memory that belongs to something else.
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

    [LibraryImport("libc")]
    private static partial int madvise(nint address, nint length, int advice);
}
