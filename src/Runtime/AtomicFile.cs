using System;
using System.IO;
using System.Runtime.InteropServices;

namespace CheckpointGen;

/// <summary>Replaces a file so that a reader (or a crash) sees either the old content or the new, never a mix.</summary>
internal static partial class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var target = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(directory);
        RemoveAbandoned(directory, Path.GetFileName(target));
        // Same folder as the target, so the final rename never crosses a file system.
        var temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                write(stream);
                // The data must be on disk before the rename makes it the checkpoint.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        FlushDirectory(directory);
    }

    /// <summary>
    /// Deletes temporary files that a killed save of the same target left behind. A save in progress holds its
    /// temporary file open without sharing (a lock other processes see too), so only abandoned ones can be opened here.
    /// </summary>
    private static void RemoveAbandoned(string directory, string fileName)
    {
        foreach (var abandoned in Directory.EnumerateFiles(directory, $".{fileName}.*.tmp"))
        {
            try
            {
                using (new FileStream(abandoned, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                }
                File.Delete(abandoned);
            }
            catch (IOException)
            {
                // Being written by another save, or gone already.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to remove.
            }
        }
    }

    /// <summary>
    /// Makes the rename itself durable: on POSIX systems a new directory entry survives a power loss only once the
    /// directory is flushed. Windows has no such call (NTFS journals the rename), so there it is skipped.
    /// </summary>
    private static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var descriptor = Posix.open(directory, 0 /* O_RDONLY */);
        if (descriptor >= 0)
        {
            // Best effort: some file systems refuse fsync on a directory; the file's own data is flushed already.
            _ = Posix.fsync(descriptor);
            _ = Posix.close(descriptor);
        }
    }

    private static partial class Posix
    {
        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int open(string path, int flags);

        [LibraryImport("libc")]
        public static partial int fsync(int descriptor);

        [LibraryImport("libc")]
        public static partial int close(int descriptor);
    }
}
