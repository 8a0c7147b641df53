using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

// Tests share torch's global seed and the relative pretrained sources in the working directory.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace CheckpointGen.Runtime.Tests;

/// <summary>A folder under the system temp folder, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("checkpointgen-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>
/// What a resumed training run is compared over: a temporary folder, the pretrained source of <see cref="Captioner"/>
/// written from a seeded encoder, and seeded batches.
/// </summary>
public abstract class TrainingRun : IDisposable
{
    private readonly Encoder pretrained;

    protected TrainingRun(int batchCount)
    {
        manual_seed(100);
        Batches = Enumerable.Range(0, batchCount).Select(_ => (randn(16, 16), randn(16, 4))).ToList();
        pretrained = new Encoder();
        WeightFiles.WriteSafetensors(Captioner.Source, pretrained);
    }

    protected TempFolder Folder { get; } = new();

    protected List<(Tensor Input, Tensor Target)> Batches { get; }

    /// <summary>A model whose trainable weights come from <paramref name="seed"/>, with the pretrained weights loaded from their source.</summary>
    protected static Captioner Model(int seed)
    {
        manual_seed(seed);
        var model = new Captioner();
        model.LoadPretrained();
        return model;
    }

    /// <summary>One optimizer step on batch <paramref name="step"/>.</summary>
    protected void Step(Captioner model, optim.Optimizer optimizer, int step)
    {
        optimizer.zero_grad();
        using var output = model.forward(Batches[step].Input);
        using var loss = nn.functional.mse_loss(output, Batches[step].Target);
        loss.backward();
        optimizer.step();
    }

    public void Dispose()
    {
        pretrained.Dispose();
        Folder.Dispose();
        GC.SuppressFinalize(this);
    }
}

internal static class ModelSnapshotAssertions
{
    public static void AssertUnchanged(this ModelSnapshot snapshot, nn.Module model) => Assert.Empty(snapshot.Changes(model));
}

internal static class Tensors
{
    public static bool BitIdentical(Tensor a, Tensor b) => ModelSnapshot.BitIdentical(a, b);

    /// <summary>
    /// The largest absolute element of <paramref name="a"/> - <paramref name="b"/>. Each temporary is held until its
    /// value is read: one left unreferenced can be finalized, and freed, while libtorch still works on it.
    /// </summary>
    public static float MaxAbsDifference(Tensor a, Tensor b)
    {
        using var difference = a - b;
        return MaxAbs(difference);
    }

    /// <summary>The largest absolute element of <paramref name="a"/>, its temporaries held (see <see cref="MaxAbsDifference"/>).</summary>
    public static float MaxAbs(Tensor a)
    {
        using var absolute = a.abs();
        using var max = absolute.max();
        return max.item<float>();
    }

    /// <summary>Runs a few optimizer steps on synthetic data, in training mode, over the trainable parameters only.</summary>
    public static void Train(nn.Module<Tensor, Tensor> model, IEnumerable<TorchSharp.Modules.Parameter> parameters, int steps, long inputs = 16)
    {
        using var optimizer = optim.Adam(parameters, lr: 0.01);
        SyntheticTraining.Steps(model, optimizer, steps, inputs);
    }
}

/// <summary>Writes weight files the way other tools would, to feed loads with good and bad input.</summary>
internal static class WeightFiles
{
    public static void WriteSafetensors(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var file = File.Create(path);
        Format.Safetensors.Write(file, tensors.OrderBy(e => e.Key, StringComparer.Ordinal).ToList(), metadata ?? new Dictionary<string, string>());
    }

    public static void WriteSafetensors(string path, nn.Module module, string prefix = "")
        => WriteSafetensors(path, module.state_dict().Select(e => KeyValuePair.Create(prefix + e.Key, e.Value)));

    public static void WriteTorchSharp(string path, nn.Module module)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        module.save(path);
    }

    public static IReadOnlyDictionary<string, string> Metadata(string path)
    {
        using var file = File.OpenRead(path);
        return Format.Safetensors.ReadIndex(file, path, file.Length).Metadata;
    }

    /// <summary>Rewrites a safetensors file's metadata, keeping its tensors and their bytes (so its checksum still holds).</summary>
    public static void EditMetadata(string path, Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        var header = System.Text.Json.Nodes.JsonNode.Parse(bytes.AsSpan(8, length))!.AsObject();
        edit(header["__metadata__"]!.AsObject());
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. bytes[(8 + length)..]]);
    }

    /// <summary>Removes a relative source, whether or not an earlier test (or its folder) left it there.</summary>
    public static void Remove(string path)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    public static IReadOnlyList<string> Keys(string path)
    {
        using var file = File.OpenRead(path);
        return Format.Safetensors.ReadIndex(file, path, file.Length).Entries.Select(e => e.Key).Order(StringComparer.Ordinal).ToList();
    }
}
