using System;
using System.IO;

namespace CheckpointGen;

/// <summary>Replaces a file so that a reader (or a crash) sees either the old content or the new, never a mix.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var target = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(directory);
        // Same folder as the target, so the final rename never crosses a file system.
        var temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
