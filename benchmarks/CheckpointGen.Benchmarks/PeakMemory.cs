using System;
using System.IO;
using System.Linq;

namespace CheckpointGen.Benchmarks;

/// <summary>
/// The process's peak resident memory during an action, beyond what it held before: native tensor memory included,
/// which the managed allocation counters cannot see. Linux only (it resets the peak through /proc/self/clear_refs).
/// </summary>
public static class PeakMemory
{
    public static long? ExtraDuring(Action action)
    {
        if (!OperatingSystem.IsLinux())
        {
            action();
            return null;
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        File.WriteAllText("/proc/self/clear_refs", "5");
        var before = Status("VmRSS");
        action();
        return Status("VmHWM") - before;
    }

    private static long Status(string field)
        => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
            System.Globalization.CultureInfo.InvariantCulture) * 1024;
}
