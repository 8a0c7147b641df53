using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
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

/// <summary>A copy of every parameter and buffer, to prove a model did or did not change.</summary>
public sealed class ModelSnapshot : IDisposable
{
    private readonly Dictionary<string, Tensor> copies;

    public ModelSnapshot(nn.Module model)
    {
        copies = model.state_dict().ToDictionary(e => e.Key, e => e.Value.detach().clone());
    }

    public void AssertUnchanged(nn.Module model)
    {
        var state = model.state_dict();
        Assert.Equal(copies.Keys.Order(), state.Keys.Order());
        foreach (var (key, copy) in copies)
        {
            Assert.True(Tensors.BitIdentical(state[key], copy), $"'{key}' changed");
        }
    }

    public void Dispose()
    {
        foreach (var copy in copies.Values)
        {
            copy.Dispose();
        }
    }
}

internal static class Tensors
{
    /// <summary>Same dtype, same shape, same bytes: stricter than equal values (it tells 0.0 from -0.0 and compares NaNs).</summary>
    public static bool BitIdentical(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape))
        {
            return false;
        }
        using var left = a.detach().cpu().contiguous();
        using var right = b.detach().cpu().contiguous();
        return left.bytes.SequenceEqual(right.bytes);
    }

    /// <summary>Runs a few optimizer steps on synthetic data, in training mode, over the trainable parameters only.</summary>
    public static void Train(nn.Module<Tensor, Tensor> model, IEnumerable<TorchSharp.Modules.Parameter> parameters, int steps, long inputs = 16)
    {
        model.train();
        using var optimizer = optim.Adam(parameters, lr: 0.01);
        for (var step = 0; step < steps; step++)
        {
            using var x = randn(32, inputs);
            using var y = model.forward(x);
            using var loss = y.pow(2).mean();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        model.eval();
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

    public static IReadOnlyList<string> Keys(string path)
    {
        using var file = File.OpenRead(path);
        return Format.Safetensors.ReadIndex(file, path, file.Length).Entries.Select(e => e.Key).Order(StringComparer.Ordinal).ToList();
    }
}
