using System;

namespace CheckpointGen.Format;

/// <summary>
/// Recognises the files users most often hand over by mistake, from their first bytes, so that the error says what the
/// file is and what to do instead of what the parser tripped over.
/// </summary>
internal static class ForeignFormats
{
    /// <summary>What to say of a file that starts with <paramref name="start"/> when a safetensors checkpoint was expected, or <see langword="null"/>.</summary>
    public static string? InsteadOfCheckpoint(ReadOnlySpan<byte> start)
    {
        if (IsZip(start))
        {
            return "it is a zip archive, as PyTorch's torch.save writes (.pt, .bin, .ckpt), not a safetensors checkpoint. " +
                "A checkpoint is what SaveCheckpoint writes; to use PyTorch weights, name the file as the [Pretrained] member's source, " +
                "or convert it to safetensors in Python.";
        }
        if (IsLegacyPickle(start))
        {
            return "it is a PyTorch file in the legacy format (torch.save before PyTorch 1.6, or with _use_new_zipfile_serialization=False), " +
                "not a safetensors checkpoint. " + Resave;
        }
        return null;
    }

    /// <summary>What to say of a pretrained source in the legacy PyTorch format, or <see langword="null"/>.</summary>
    public static string? InsteadOfWeights(ReadOnlySpan<byte> start)
        => IsLegacyPickle(start)
            ? "it is a PyTorch file in the legacy format (torch.save before PyTorch 1.6, or with _use_new_zipfile_serialization=False), which cannot be read without running its pickle. " + Resave
            : null;

    private const string Resave = "Re-save the state dict with a current PyTorch: torch.save(model.state_dict(), path), or as safetensors.";

    /// <summary>"PK\x03\x04": a zip archive's first local file header, what torch.save writes since PyTorch 1.6.</summary>
    public static bool IsZip(ReadOnlySpan<byte> start) => start.StartsWith("PK\u0003\u0004"u8);

    /// <summary>A pickle's PROTO opcode with a protocol PyTorch used (2 to 5): the legacy torch.save format starts so.</summary>
    private static bool IsLegacyPickle(ReadOnlySpan<byte> start) => start.Length >= 2 && start[0] == 0x80 && start[1] is >= 2 and <= 5;
}
