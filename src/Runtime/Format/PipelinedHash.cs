using System;
using System.IO.Hashing;
using System.Threading.Tasks;

namespace CheckpointGen.Format;

/// <summary>
/// Hashes each piece on another core while the caller moves the next one, in order. The pieces must stay in place
/// until the next <see cref="Append"/> or <see cref="Complete"/> returns: they are tensor memory, which does not move.
/// </summary>
internal sealed unsafe class PipelinedHash(XxHash3 hash)
{
    private Task pending = Task.CompletedTask;

    public void Append(Span<byte> piece)
    {
        pending.GetAwaiter().GetResult();
        fixed (byte* start = piece)
        {
            var (address, length) = ((nint)start, piece.Length);
            pending = Task.Run(() => hash.Append(new ReadOnlySpan<byte>((void*)address, length)));
        }
    }

    /// <summary>For a buffer the caller reuses: hashed before returning.</summary>
    public void AppendNow(ReadOnlySpan<byte> piece)
    {
        pending.GetAwaiter().GetResult();
        hash.Append(piece);
    }

    /// <summary>Waits for the last piece; after this, the pieces may be freed and the hash read.</summary>
    public void Complete() => pending.GetAwaiter().GetResult();
}
