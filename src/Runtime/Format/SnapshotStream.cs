using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Win32.SafeHandles;

namespace CheckpointGen.Format;

/// <summary>
/// A read-only view of a file in which every byte read while <see cref="Recording"/> is kept and served again as it was
/// first read, even if the file changes on disk. A file is checked through this view, then handed on through it: the
/// second reader sees exactly the structure that was checked (zip directory, pickle), while the bulk of the file
/// (tensor data) is read live and never kept. Reads are positional (<see cref="RandomAccess"/>): no page of the file is
/// mapped, so a file truncated meanwhile only makes reads come back short.
/// </summary>
internal sealed class SnapshotStream : Stream
{
    private readonly SafeFileHandle file;
    private readonly long length;
    private readonly long maxKept;
    private readonly string source;
    // Kept ranges by start; they never overlap, because live reads only fill the gaps between them.
    private readonly SortedList<long, byte[]> kept = [];
    private long keptBytes;
    private long position;

    /// <param name="file">The open file; the caller keeps owning it.</param>
    /// <param name="length">The file's length when it was opened: the view's length for good.</param>
    /// <param name="maxKept">How many bytes the view may keep at most, or the check is refused.</param>
    /// <param name="source">The file, for messages.</param>
    public SnapshotStream(SafeFileHandle file, long length, long maxKept, string source)
    {
        this.file = file;
        this.length = length;
        this.maxKept = maxKept;
        this.source = source;
    }

    /// <summary>Whether bytes read now are kept (while checking) or only passed on (while the checked file is read).</summary>
    public bool Recording { get; set; } = true;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => position;
        set => position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var done = 0;
        while (done < buffer.Length && position < length)
        {
            var wanted = (int)Math.Min(buffer.Length - done, length - position);
            var (start, bytes, next) = Find(position);
            int read;
            if (bytes is not null)
            {
                read = (int)Math.Min(wanted, start + bytes.Length - position);
                bytes.AsSpan((int)(position - start), read).CopyTo(buffer[done..]);
            }
            else
            {
                read = RandomAccess.Read(file, buffer.Slice(done, (int)Math.Min(wanted, next - position)), position);
                if (read == 0)
                {
                    // The file is shorter than it was: the reader above sees the end of its data.
                    break;
                }
                if (Recording)
                {
                    Keep(position, buffer.Slice(done, read));
                }
            }
            done += read;
            position += read;
        }
        return done;
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => position + offset,
        _ => length + offset,
    };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>The kept range holding <paramref name="at"/>, or none and where the next kept range starts.</summary>
    private (long Start, byte[]? Bytes, long Next) Find(long at)
    {
        var keys = kept.Keys;
        int low = 0, high = keys.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) / 2;
            if (keys[middle] <= at)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }
        // high: the last range starting at or before the position; low: the first starting after it.
        if (high >= 0 && kept.Values[high] is var bytes && keys[high] + bytes.Length > at)
        {
            return (keys[high], bytes, 0);
        }
        return (0, null, low < keys.Count ? keys[low] : length);
    }

    private void Keep(long at, ReadOnlySpan<byte> bytes)
    {
        keptBytes += bytes.Length;
        if (keptBytes > maxKept)
        {
            throw new CheckpointFormatException(source, $"its zip directory and pickle take more than {maxKept >> 20} MiB to read, more than a PyTorch state dict needs.");
        }
        kept.Add(at, bytes.ToArray());
    }
}
