using System;
using System.IO;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CheckpointGen.Format;

/// <summary>
/// A new file being written, whose data the kernel starts writing to disk while the next pieces are written (Linux):
/// the final flush then finds most of it on its way, instead of starting the whole write itself. Durability still
/// comes from that flush; this only starts it earlier. The file stays its caller's to flush and dispose.
/// </summary>
internal sealed partial class WritebackStream(FileStream file) : Stream
{
    /// <summary>Handed to writeback in steps this large: a few system calls per gigabyte, and little data left for the flush.</summary>
    private const long Step = 8 << 20;

    private const uint SyncFileRangeWrite = 2;

    /// <summary>The first byte not yet handed to writeback.</summary>
    private long started;

    public override bool CanRead => false;

    public override bool CanSeek => file.CanSeek;

    public override bool CanWrite => true;

    public override long Length => file.Length;

    public override long Position
    {
        get => file.Position;
        set => file.Position = value;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        file.Write(buffer);
        StartWriteback();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() => file.Flush();

    public override long Seek(long offset, SeekOrigin origin) => file.Seek(offset, origin);

    public override void SetLength(long value) => file.SetLength(value);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void StartWriteback()
    {
        var end = file.Position;
        if (!OperatingSystem.IsLinux() || end - started < Step)
        {
            return;
        }
        // Advice: where the kernel or the file system declines, the final flush does all the writing, as without it.
        _ = sync_file_range(file.SafeFileHandle, started, end - started, SyncFileRangeWrite);
        started = end;
    }

    [LibraryImport("libc")]
    private static partial int sync_file_range(SafeFileHandle descriptor, long offset, long count, uint flags);
}
