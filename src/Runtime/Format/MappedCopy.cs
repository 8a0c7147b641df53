using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>
/// Loading a checkpoint file without staging memory: the file is mapped read-only, its data verified in place, then
/// copied once into the model's tensors. Nothing is allocated (and zeroed) for the data, and nothing reaches the model
/// before the checksum has passed. A mapped checkpoint does not change underneath: saves replace files by rename.
/// </summary>
internal static unsafe partial class MappedCopy
{
    private const int MadvisePopulateRead = 22;

    /// <summary>Verifies the data section against <paramref name="checksum"/> when given, then copies <paramref name="entries"/> into <paramref name="state"/>.</summary>
    public static long Load(FileStream file, TensorFileIndex index, IReadOnlyList<TensorEntry> entries, Dictionary<string, Tensor> state, string? checksum, ProgressCounter? progress = null)
    {
        var length = file.Length;
        using var map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* mapped = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref mapped);
        try
        {
            var start = mapped + view.PointerOffset;
            if (OperatingSystem.IsLinux())
            {
                // Map every page in one call rather than one fault per 4 KiB page.
                _ = madvise((nint)mapped, (nint)(length + view.PointerOffset), MadvisePopulateRead);
            }
            if (checksum is not null)
            {
                var hash = new XxHash3();
                for (var offset = index.DataStart; offset < length; offset += int.MaxValue)
                {
                    hash.Append(new ReadOnlySpan<byte>(start + offset, (int)Math.Min(int.MaxValue, length - offset)));
                }
                if (CheckpointMetadata.FormatChecksum(hash) is var actual && actual != checksum)
                {
                    throw new CheckpointFormatException(index.Source, $"its data does not match the checksum recorded at save (recorded {checksum}, read {actual}): the file is damaged.");
                }
            }
            long bytes = 0;
            using var noGrad = no_grad();
            foreach (var entry in entries)
            {
                TensorBytes.CopyInto(state[entry.Key], start + entry.Offset, progress);
                bytes += entry.ByteLength;
            }
            return bytes;
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    [LibraryImport("libc")]
    private static partial int madvise(nint address, nint length, int advice);
}
