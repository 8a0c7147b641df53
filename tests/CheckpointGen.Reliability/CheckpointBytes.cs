using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CheckpointGen.Format;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>A checkpoint taken apart into its header (as JSON) and its data section, and put back together.</summary>
public static class CheckpointBytes
{
    public static (JsonObject Header, byte[] Data) Split(byte[] file)
    {
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (JsonNode.Parse(file.AsSpan(8, length))!.AsObject(), file[(8 + length)..]);
    }

    /// <summary>
    /// The file of this header and data. When <paramref name="reseal"/>, the checksum entry is recomputed the way the writer
    /// computes it (tensor table, then data), so that a mutation of the table reaches the checks past the checksum.
    /// </summary>
    public static byte[] Join(JsonObject header, byte[] data, bool reseal)
    {
        var file = Bytes(header.ToJsonString(), data);
        if (!reseal || header["__metadata__"] is not JsonObject metadata || metadata[CheckpointMetadata.Checksum] is null)
        {
            return file;
        }
        try
        {
            var index = Index(file);
            var hash = Format.Checksum.Start(index.Entries, index.DataStart, CheckpointMetadata.LayoutVersion(index) >= 2);
            hash.Append(file.AsSpan((int)index.DataStart, (int)(index.DataEnd - index.DataStart)));
            metadata[CheckpointMetadata.Checksum] = Format.Checksum.Format(hash);
            return Bytes(header.ToJsonString(), data);
        }
        catch (CheckpointFormatException)
        {
            // The header is refused before its checksum is read: nothing to reseal.
            return file;
        }
    }

    /// <summary>The file's tensor table and metadata, as the loader reads them.</summary>
    internal static TensorFileIndex Index(byte[] file)
    {
        using var stream = new MemoryStream(file, writable: false);
        return Safetensors.ReadIndex(stream, "checkpoint", file.Length);
    }

    /// <summary>
    /// Why a load that succeeded is not legitimate, or <see langword="null"/>: every trainable tensor of the model must hold
    /// the bytes the file holds for its key, and with a training state, saving the model and optimizer again must give the
    /// file's training state (compared as data: numbers by value, name lists as sets) and its optimizer tensors.
    /// </summary>
    public static string? Illegitimate(ICheckpointable model, byte[] file, TrainingState? training)
    {
        var index = Index(file);
        var entries = index.Entries.ToDictionary(e => e.Key, StringComparer.Ordinal);
        foreach (var (key, tensor) in model.TrainableStateDict())
        {
            if (!entries.TryGetValue(key, out var entry) || !Same(tensor, file, entry))
            {
                return $"the model's '{key}' is not what the file holds for it";
            }
        }
        if (training is null)
        {
            return null;
        }
        using var again = new MemoryStream();
        model.SaveCheckpoint(again, training);
        var resaved = Index(again.ToArray());
        var recorded = Normalize(WithDefaults(JsonNode.Parse(index.Metadata[Training.TrainingSnapshot.MetadataKey])));
        var now = Normalize(JsonNode.Parse(resaved.Metadata[Training.TrainingSnapshot.MetadataKey]));
        if (!JsonNode.DeepEquals(recorded, now))
        {
            return $"the training state loaded is {now?.ToJsonString()}, the file holds {recorded?.ToJsonString()}";
        }
        var bytes = again.ToArray();
        foreach (var entry in resaved.Entries.Where(e => e.Key.StartsWith(Training.TrainingSnapshot.TensorKeyPrefix, StringComparison.Ordinal)))
        {
            if (!entries.TryGetValue(entry.Key, out var original) || !file.AsSpan((int)original.Offset, (int)original.ByteLength).SequenceEqual(bytes.AsSpan((int)entry.Offset, (int)entry.ByteLength)))
            {
                return $"the optimizer's '{entry.Key}' is not what the file holds for it";
            }
        }
        return null;
    }

    /// <summary>An optimizer's whole state (options and per-parameter state), as bytes to compare and to restore.</summary>
    public static byte[] Save(OptimizerHelper optimizer)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            optimizer.save_state_dict(writer);
        }
        return stream.ToArray();
    }

    public static void Restore(OptimizerHelper optimizer, byte[] state)
    {
        using var reader = new BinaryReader(new MemoryStream(state));
        optimizer.load_state_dict(reader);
    }

    private static bool Same(Tensor tensor, byte[] file, TensorEntry entry)
    {
        return entry.Dtype == tensor.dtype && entry.Shape.SequenceEqual(tensor.shape)
            && file.AsSpan((int)entry.Offset, (int)entry.ByteLength).SequenceEqual(ModelSnapshot.BytesOf(tensor));
    }

    /// <summary>What the schema gives a training state that leaves out its step, epoch or metadata (docs/file-format.md).</summary>
    private static JsonNode? WithDefaults(JsonNode? node)
    {
        if (node is JsonObject state)
        {
            state["step"] ??= 0;
            state["epoch"] ??= 0;
            state["metadata"] ??= new JsonObject();
        }
        return node;
    }

    /// <summary>Numbers (also numbers written as strings, as the options are) by value; parameter and tensor name lists as sets.</summary>
    private static JsonNode? Normalize(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => KeyValuePair.Create(e.Key,
            e.Key is "parameters" or "tensors" && e.Value is JsonArray names
                ? new JsonArray(names.Select(n => n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : n?.ToJsonString()).Order(StringComparer.Ordinal).Select(n => (JsonNode?)JsonValue.Create(n)).ToArray())
                : Normalize(e.Value)))),
        JsonArray a => new JsonArray(a.Select(Normalize).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => JsonValue.Create(double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)),
        JsonValue v when v.GetValueKind() == JsonValueKind.String && double.TryParse(v.GetValue<string>(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        _ => node?.DeepClone(),
    };

    private static byte[] Bytes(string header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        data.CopyTo(file, 8 + json.Length);
        return file;
    }
}
