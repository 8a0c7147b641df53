using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>
/// One file of pretrained weights, indexed so that its keys, dtypes and shapes can be checked before anything is
/// copied. <see cref="Loaded"/> holds the tensors of formats that cannot be read lazily (PyTorch pickles).
/// </summary>
internal sealed record WeightFile(FileStream? Stream, TensorFileIndex Index, Dictionary<string, Tensor>? Loaded) : IDisposable
{
    public void Dispose()
    {
        Stream?.Dispose();
        foreach (var tensor in Loaded?.Values ?? Enumerable.Empty<Tensor>())
        {
            tensor.Dispose();
        }
    }
}

/// <summary>Opens pretrained weights in every format users have them in.</summary>
internal static class WeightSource
{
    private const string ShardIndexSuffix = ".index.json";

    /// <summary>
    /// The files of a source: a safetensors file, a file of TorchSharp's <c>Module.save</c>, a PyTorch <c>.pt</c>/<c>.bin</c>
    /// state dict (zip format, read by TorchSharp.PyBridge's unpickler, which executes nothing), or a Hugging Face sharded
    /// index (<c>model.safetensors.index.json</c>) and its shards.
    /// </summary>
    public static List<WeightFile> Open(string path, Func<string, FileStream> open)
    {
        var files = new List<WeightFile>();
        try
        {
            if (path.EndsWith(ShardIndexSuffix, StringComparison.OrdinalIgnoreCase))
            {
                OpenShards(path, open, files);
            }
            else
            {
                files.Add(OpenFile(open(path)));
            }
            return files;
        }
        catch
        {
            files.ForEach(file => file.Dispose());
            throw;
        }
    }

    private static WeightFile OpenFile(FileStream stream)
    {
        Span<byte> start = stackalloc byte[4];
        var read = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        // A zip archive is what torch.save writes since PyTorch 1.6.
        if (ForeignFormats.IsZip(start[..read]))
        {
            return OpenPickle(stream);
        }
        try
        {
            return new WeightFile(stream, TensorFiles.Index(stream), null);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A torch.save zip archive: checked against its limits (<see cref="PyTorchFile"/>) before PyBridge reads it, through a
    /// view that keeps the checked structure. The file is closed on every path; only the tensors stay.
    /// </summary>
    private static WeightFile OpenPickle(FileStream stream)
    {
        var source = stream.Name;
        Hashtable table;
        using (stream)
        {
            using var snapshot = PyTorchFile.Check(stream);
            try
            {
                table = PyTorchUnpickler.UnpickleStateDict(snapshot, leaveOpen: true);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new CheckpointFormatException(source, $"it is a zip archive but not a PyTorch state dict that can be read ({e.GetType().Name}: {Fragment.Quote(e.Message)}).", e);
            }
        }
        var loaded = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry item in table)
        {
            if (item.Key is string key && item.Value is Tensor tensor)
            {
                loaded[key] = tensor;
            }
            else if (item.Value is Tensor other)
            {
                other.Dispose();
            }
        }
        if (loaded.Count == 0 && table.Count > 0)
        {
            // A training checkpoint ({"model": state_dict, "optimizer": ...}) holds its weights one level down.
            var names = string.Join(", ", table.Keys.Cast<object>().Select(k => Fragment.Quote(k.ToString() ?? "")).Take(5));
            throw new CheckpointFormatException(source, $"it holds no tensors at its top level, only {names}: save the model's state_dict() itself (torch.save(model.state_dict(), path)).");
        }
        var entries = loaded.Select(e => new TensorEntry(e.Key, e.Value.dtype, e.Value.shape, 0, e.Value.numel() * e.Value.element_size())).ToList();
        return new WeightFile(null, new TensorFileIndex(source, entries, new Dictionary<string, string>(), 0), loaded);
    }

    /// <summary>
    /// A sharded checkpoint: the index maps each key to a shard in the same folder. Shard names are file names only;
    /// the index never leads outside its folder.
    /// </summary>
    private static void OpenShards(string indexPath, Func<string, FileStream> open, List<WeightFile> files)
    {
        Dictionary<string, string> weightMap;
        using (var stream = open(indexPath))
        {
            try
            {
                using var document = JsonDocument.Parse(stream);
                weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var entry in document.RootElement.GetProperty("weight_map").EnumerateObject())
                {
                    var shard = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : throw new InvalidOperationException($"the shard of '{entry.Name}' is not a string");
                    if (!weightMap.TryAdd(entry.Name, shard))
                    {
                        throw new InvalidOperationException($"'{entry.Name}' is mapped twice");
                    }
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new CheckpointFormatException(stream.Name, $"it is not a sharded checkpoint index with a 'weight_map' of keys to shard files ({e.Message}).", e);
            }
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        foreach (var shard in weightMap.Values.Distinct(StringComparer.Ordinal))
        {
            if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
            {
                throw new CheckpointFormatException(Path.GetFullPath(indexPath), $"its weight_map names the shard {Fragment.Quote(shard)}, which is not a file name in the index's folder.");
            }
            var path = Path.Combine(folder, shard);
            if (File.Exists(path) && !CheckpointFiles.IsInside(path, folder))
            {
                throw new CheckpointFormatException(Path.GetFullPath(indexPath), $"its shard {Fragment.Quote(shard)} is a link to a file outside the index's folder, which a sharded checkpoint never leads to.");
            }
            var file = OpenFile(open(path));
            files.Add(file);
            var mapped = weightMap.Where(e => e.Value == shard).Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
            var held = file.Index.Entries.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
            if (!mapped.SetEquals(held))
            {
                var difference = mapped.Except(held).Select(k => $"'{k}' is mapped to it but missing").Concat(held.Except(mapped).Select(k => $"'{k}' is in it but mapped elsewhere")).First();
                throw new CheckpointFormatException(file.Index.Source, $"it does not match its index '{Path.GetFullPath(indexPath)}': {difference}.");
            }
        }
    }
}
