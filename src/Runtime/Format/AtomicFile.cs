using System;
using System.Buffers;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace CheckpointGen.Format;

/// <summary>
/// Replaces a file so that a reader (or a crash) sees either the old content or the new, never a mix. The new file keeps
/// the permissions of the one it replaces (and its owner and group, where the process may set them). A path that is a
/// symbolic link is replaced by the new file; the file the link pointed to is left as it was.
/// </summary>
internal static partial class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var target = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(target)!;
        if (Directory.Exists(target))
        {
            throw new IOException($"Cannot save to '{target}': it is a folder. Name a checkpoint file, for example '{Path.Combine(target, "checkpoint.safetensors")}'.");
        }
        CreateFolder(directory, target);
        RemoveAbandoned(directory, Path.GetFileName(target));
        var stream = CreateTemporary(directory, Path.GetFileName(target), out var temporary);
        try
        {
            using (stream)
            {
                KeepAttributesOf(target, stream.SafeFileHandle);
                write(new WritebackStream(stream));
                // The data must be on disk before the rename makes it the checkpoint.
                stream.Flush(flushToDisk: true);
                // Renamed while still open: until then no other save's cleanup can take the file for abandoned.
                File.Move(temporary, target, overwrite: true);
            }
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        FlushDirectory(directory);
    }

    /// <summary>Creates the target's folder; a file standing where a folder of the path should be is named.</summary>
    private static void CreateFolder(string directory, string target)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (IOException) when (FileOnPath(directory) is { } file)
        {
            throw new IOException($"Cannot save to '{target}': '{file}' is a file, not a folder. Save the checkpoint beside it, or choose another folder.");
        }
    }

    private static string? FileOnPath(string directory)
    {
        for (var current = directory; current is not null; current = Path.GetDirectoryName(current))
        {
            if (File.Exists(current))
            {
                return current;
            }
        }
        return null;
    }

    /// <summary>
    /// Creates the temporary file in the target's folder (so the final rename never crosses a file system), open without
    /// sharing reads or writes: other saves see it is in use. On POSIX systems that lock is taken just after the file is created, so
    /// another save's cleanup can seize a file in that instant; then this save starts over with a new name.
    /// </summary>
    private static FileStream CreateTemporary(string directory, string fileName, out string temporary)
    {
        for (var attempt = 1; ; attempt++)
        {
            temporary = Path.Combine(directory, $".{fileName}.{Guid.NewGuid():N}.tmp");
            FileStream stream;
            try
            {
                // Nobody else may read or write it; sharing only deletion lets this save rename it while open (Windows asks for that).
                stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.Delete, bufferSize: 1 << 20);
            }
            catch (IOException) when (attempt < 5)
            {
                // Taken by another save's cleanup between its creation and its lock: that save deletes it; try a new name.
                continue;
            }
            if (File.Exists(temporary) || attempt == 5)
            {
                return stream;
            }
            stream.Dispose();
        }
    }

    /// <summary>
    /// Deletes temporary files that a killed save of the same target left behind. A save in progress holds its file
    /// open without sharing, so only abandoned ones can be opened here; each is deleted while held, so no save can take it
    /// back in between.
    /// </summary>
    private static void RemoveAbandoned(string directory, string fileName) => RemoveAbandoned(directory, target => target == fileName);

    /// <summary>
    /// Deletes the temporary files that killed saves left behind for every target in <paramref name="directory"/> whose
    /// file name <paramref name="isTarget"/> accepts (a checkpoint manager's, at its start), as a save does for its own target.
    /// </summary>
    internal static void RemoveAbandoned(string directory, Func<string, bool> isTarget)
    {
        foreach (var abandoned in Directory.EnumerateFiles(directory, ".*.tmp").Where(path => TargetOf(Path.GetFileName(path)) is { } target && isTarget(target)))
        {
            try
            {
                using (new FileStream(abandoned, FileMode.Open, FileAccess.ReadWrite, FileShare.None, bufferSize: 1, FileOptions.DeleteOnClose))
                {
                }
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

    /// <summary>The target file name of a temporary file named as <see cref="CreateTemporary"/> names them, else null.</summary>
    private static string? TargetOf(string name)
    {
        var target = name.Length > 1 + 1 + 32 + 4 ? name[1..^(1 + 32 + 4)] : null;
        return target is not null && IsTemporaryOf(name, target) ? target : null;
    }

    private static readonly SearchValues<char> LowerHexDigits = SearchValues.Create("0123456789abcdef");

    /// <summary>True for exactly the names <see cref="CreateTemporary"/> gives: <c>.{target}.{32 hex digits}.tmp</c>.</summary>
    private static bool IsTemporaryOf(string name, string fileName)
    {
        var prefix = "." + fileName + ".";
        return name.Length == prefix.Length + 32 + 4
            && name.StartsWith(prefix, StringComparison.Ordinal)
            && name.EndsWith(".tmp", StringComparison.Ordinal)
            && name.AsSpan(prefix.Length, 32).IndexOfAnyExcept(LowerHexDigits) < 0;
    }

    /// <summary>
    /// Makes the rename itself durable: on POSIX systems a new directory entry survives a power loss only once the
    /// directory is flushed. Windows has no such call (NTFS journals the rename), so there it is skipped.
    /// </summary>
    internal static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var descriptor = Posix.open(directory, OperatingSystem.IsLinux() ? Posix.ReadOnlyCloseOnExecLinux : Posix.ReadOnly);
        if (descriptor < 0)
        {
            return;
        }
        var result = Posix.fsync(descriptor);
        var error = Marshal.GetLastPInvokeError();
        _ = Posix.close(descriptor);
        // Some file systems refuse fsync on a directory (EINVAL, ENOTSUP); an I/O error means the rename may not last.
        if (result != 0 && error == Posix.EIO)
        {
            throw new IOException($"The checkpoint was written, but flushing its folder '{directory}' to disk failed with an I/O error: the new file may not survive a power loss.");
        }
    }

    /// <summary>The mode of the file at <paramref name="target"/> (and its owner and group, where permitted), given to the new file.</summary>
    private static void KeepAttributesOf(string target, Microsoft.Win32.SafeHandles.SafeFileHandle replacement)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(target))
        {
            return;
        }
        try
        {
            File.SetUnixFileMode(replacement, File.GetUnixFileMode(target));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone in between, or not ours to read: the new file keeps the default mode.
        }
        if (Posix.OwnerOf(target) is var (user, group))
        {
            // Only root may give a file away, and a user only to a group of theirs: elsewhere this fails, as it may.
            _ = Posix.fchown((int)replacement.DangerousGetHandle(), user, group);
        }
    }

    private static partial class Posix
    {
        public const int ReadOnly = 0;

        /// <summary>The owner and group of a file, where this system's <c>struct stat</c> layout is known (Linux on x64 and arm64).</summary>
        public static (uint User, uint Group)? OwnerOf(string path)
        {
            var offset = !OperatingSystem.IsLinux() ? -1
                : RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 28
                : RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 24
                : -1;
            if (offset < 0)
            {
                return null;
            }
            var buffer = new byte[256];
            try
            {
                return stat(path, buffer) == 0
                    ? (BitConverter.ToUInt32(buffer, offset), BitConverter.ToUInt32(buffer, offset + 4))
                    : null;
            }
            catch (EntryPointNotFoundException)
            {
                // glibc before 2.33 exports stat under another name.
                return null;
            }
        }

        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        private static partial int stat(string path, [Out] byte[] buffer);

        [LibraryImport("libc")]
        public static partial int fchown(int descriptor, uint user, uint group);

        public const int ReadOnlyCloseOnExecLinux = 0x80000;
        public const int EIO = 5;

        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int fsync(int descriptor);

        [LibraryImport("libc")]
        public static partial int close(int descriptor);
    }
}
