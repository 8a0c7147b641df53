using System.Collections.Generic;

namespace CheckpointGen.Format;

/// <summary>
/// A run of a file's bytes as a read moves them: where it starts in the file, how long it is, and the memory it goes to
/// (none for bytes that are only hashed, such as the entries a load passes over).
/// </summary>
internal readonly record struct FilePiece(long Offset, int Length, nint Destination)
{
    /// <summary>
    /// The size of the pieces a read is cut into: small enough that the core that read a piece hashes it from its own L2
    /// cache, large enough that system calls and hand-overs between the reading threads cost nothing.
    /// </summary>
    public const int Bytes = 256 << 10;

    /// <summary>Cuts <paramref name="length"/> bytes at <paramref name="offset"/> into pieces, going to <paramref name="destination"/> onward (or nowhere, for 0).</summary>
    public static void Add(List<FilePiece> pieces, long offset, long length, nint destination)
    {
        for (long done = 0; done < length; done += Bytes)
        {
            pieces.Add(new FilePiece(offset + done, (int)System.Math.Min(Bytes, length - done), destination == 0 ? 0 : destination + (nint)done));
        }
    }
}
