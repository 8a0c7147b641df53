using System;
using System.IO;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CheckpointGen.Format;

/// <summary>Opens the files a load reads: regular files only, so that a FIFO or socket named as a checkpoint never blocks.</summary>
internal static partial class CheckpointFiles
{
    /// <summary>Opens <paramref name="path"/> for reading; <paramref name="what"/> names it in messages ("the checkpoint of Captioner").</summary>
    /// <exception cref="FileNotFoundException">Nothing is at the path.</exception>
    /// <exception cref="CheckpointFormatException">A folder, FIFO, socket or device is.</exception>
    public static FileStream OpenExisting(string path, string what)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new CheckpointFormatException(full, $"it is a folder, not a file; name the {what} file inside it.");
        }
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"The {what} '{full}' does not exist.", full);
        }
        if (!CanSeekWithoutBlocking(full))
        {
            throw new CheckpointFormatException(full, $"it is not a regular file (a FIFO, socket or device); the {what} must be a file on disk.");
        }
        // Sharing deletion lets a save replace the file while it is being read (Windows asks for that).
        return new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 1 << 16);
    }

    /// <summary>
    /// Opening a FIFO for reading waits for a writer; with O_NONBLOCK the open returns at once, and the handle then says
    /// it cannot seek. Where that flag is unknown, nothing is probed.
    /// </summary>
    private static bool CanSeekWithoutBlocking(string full)
    {
        var flags = OperatingSystem.IsLinux() ? LinuxReadOnlyNonBlocking : OperatingSystem.IsMacOS() ? MacReadOnlyNonBlocking : -1;
        if (flags < 0)
        {
            return true;
        }
        var descriptor = open(full, flags);
        if (descriptor < 0)
        {
            // Gone or forbidden in between: the real open raises .NET's usual exception for the path.
            return true;
        }
        using var probe = new FileStream(new SafeFileHandle(descriptor, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        return probe.CanSeek;
    }

    /// <summary>
    /// The path with every symbolic link resolved, in every component: where the bytes really are. Where the system
    /// cannot tell, the final link chain is followed.
    /// </summary>
    public static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            var resolved = realpath(full, IntPtr.Zero);
            if (resolved != IntPtr.Zero)
            {
                try
                {
                    return Marshal.PtrToStringUTF8(resolved)!;
                }
                finally
                {
                    free(resolved);
                }
            }
        }
        return File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
    }

    /// <summary>True when <paramref name="path"/>, links resolved, is inside <paramref name="folder"/>, links resolved.</summary>
    public static bool IsInside(string path, string folder)
    {
        var root = RealPath(folder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        return RealPath(path).StartsWith(root, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr realpath(string path, IntPtr resolved);

    [LibraryImport("libc")]
    private static partial void free(IntPtr pointer);

    private const int LinuxReadOnlyNonBlocking = 0x800 | 0x80000;
    private const int MacReadOnlyNonBlocking = 0x4 | 0x1000000;

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);
}
