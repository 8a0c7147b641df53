using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>One tensor of a file: where its bytes are and what they hold.</summary>
internal sealed record TensorEntry(string Key, ScalarType Dtype, long[] Shape, long Offset, long ByteLength)
{
    public string Describe() => DescribeTensor(Dtype, Shape);

    public static string DescribeTensor(ScalarType dtype, IEnumerable<long> shape) => $"{dtype} [{string.Join(", ", shape)}]";

    public bool HasShape(long[] shape) => Shape.SequenceEqual(shape);
}

/// <summary>The tensors and metadata of a checkpoint or pretrained-weights file, read from its header only.</summary>
/// <param name="Source">The file, for messages.</param>
/// <param name="Entries">The tensors, with offsets from the start of the file.</param>
/// <param name="Metadata">The safetensors <c>__metadata__</c>, empty for other formats.</param>
/// <param name="DataStart">Where the header ends.</param>
internal sealed record TensorFileIndex(string Source, IReadOnlyList<TensorEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart)
{
    /// <summary>Where the last tensor's bytes end: the end of the file's data.</summary>
    public long DataEnd { get; } = Entries.Count == 0 ? DataStart : Entries.Max(e => e.Offset + e.ByteLength);
}
