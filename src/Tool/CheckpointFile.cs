using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using CheckpointGen.Format;
using static TorchSharp.torch;

namespace CheckpointGen.Tool;

/// <summary>A checkpoint file opened for reading: its validated header and, on request, its tensors' values.</summary>
internal sealed class CheckpointFile : IDisposable
{
    private readonly FileStream stream;

    private CheckpointFile(FileStream stream, TensorFileIndex index)
    {
        this.stream = stream;
        Index = index;
    }

    public TensorFileIndex Index { get; }

    public string Path => stream.Name;

    /// <summary>Opens and validates the header, with the library's own checks and errors.</summary>
    public static CheckpointFile Open(string path)
    {
        var stream = CheckpointFiles.OpenExisting(path, "checkpoint");
        try
        {
            var index = Safetensors.ReadIndex(stream, stream.Name, stream.Length);
            CheckpointMetadata.RequireCheckpointGenEntries(index);
            return new CheckpointFile(stream, index);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The checksum the file records, or <see langword="null"/> (a file CheckpointGen did not write).</summary>
    public string? RecordedChecksum => CheckpointMetadata.RecordedChecksum(Index);

    /// <summary>Bytes of tensor data in the file.</summary>
    public long DataBytes => stream.Length - Index.DataStart;

    /// <summary>
    /// The checksum of the file as it is on disk now, as the library computes it at load (the tensor table too, from
    /// layout 2 on); <paramref name="advanced"/> hears of every megabyte of data hashed.
    /// </summary>
    public string ActualChecksum(Action<long>? advanced = null)
    {
        var hash = CheckpointMetadata.StartChecksum(Index);
        var buffer = new byte[1 << 20];
        stream.Position = Index.DataStart;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            hash.Append(buffer.AsSpan(0, read));
            advanced?.Invoke(read);
        }
        return Checksum.Format(hash);
    }

    /// <summary>The tensor's bytes as they are in the file.</summary>
    public byte[] Bytes(TensorEntry entry)
    {
        var bytes = new byte[entry.ByteLength];
        stream.Position = entry.Offset;
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>A tensor's elements as doubles, for measuring how far values moved; NaN for a dtype without a numeric reading.</summary>
    public static double[] Values(ScalarType dtype, byte[] bytes)
    {
        var size = Dtypes.SizeOf(dtype);
        var values = new double[bytes.Length / Math.Max(1, size)];
        for (var i = 0; i < values.Length; i++)
        {
            var element = bytes.AsSpan(i * size, size);
            values[i] = dtype switch
            {
                ScalarType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(element),
                ScalarType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(element),
                ScalarType.Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(element),
                ScalarType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(element) << 16),
                ScalarType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(element),
                ScalarType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(element),
                ScalarType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(element),
                ScalarType.Int8 => (sbyte)element[0],
                ScalarType.Byte or ScalarType.Bool => element[0],
                _ => double.NaN,
            };
        }
        return values;
    }

    public IReadOnlyDictionary<string, string> Metadata => Index.Metadata;

    public void Dispose() => stream.Dispose();
}
