using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>A copy of every parameter and buffer, to prove a model did or did not change, and to put it back.</summary>
public sealed class ModelSnapshot : IDisposable
{
    private readonly Dictionary<string, Tensor> copies;

    public ModelSnapshot(nn.Module model)
    {
        copies = model.state_dict().ToDictionary(e => e.Key, e => Copy(e.Value));
    }

    /// <summary>The keys whose dtype, shape or bytes differ from the snapshot's.</summary>
    public IReadOnlyList<string> Changes(nn.Module model)
    {
        var state = model.state_dict();
        return copies.Keys.Union(state.Keys)
            .Where(key => !copies.TryGetValue(key, out var copy) || !state.TryGetValue(key, out var now) || !BitIdentical(copy, now))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    public void Restore(nn.Module model)
    {
        using var noGrad = no_grad();
        foreach (var (key, tensor) in model.state_dict())
        {
            tensor.copy_(copies[key]);
        }
    }

    /// <summary>Same dtype, same shape, same bytes: stricter than equal values (it tells 0.0 from -0.0 and compares NaNs).</summary>
    public static bool BitIdentical(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape))
        {
            return false;
        }
        return BytesOf(a).AsSpan().SequenceEqual(BytesOf(b));
    }

    /// <summary>
    /// A tensor's bytes, read through temporaries each held to the end: TorchSharp does not keep a tensor alive while
    /// libtorch works on it, so an unreferenced temporary (<c>t.detach().cpu()</c>) can be freed by its finalizer under
    /// the call that reads it, which crashes the process.
    /// </summary>
    public static byte[] BytesOf(Tensor tensor)
    {
        using var detached = tensor.detach();
        using var cpu = detached.cpu();
        using var contiguous = cpu.contiguous();
        return contiguous.bytes.ToArray();
    }

    /// <summary>A tensor's values as doubles, its temporary held to the end (see <see cref="BytesOf"/>).</summary>
    public static double[] ValuesOf(Tensor tensor)
    {
        using var doubles = tensor.to_type(ScalarType.Float64);
        return doubles.data<double>().ToArray();
    }

    private static Tensor Copy(Tensor tensor)
    {
        using var detached = tensor.detach();
        return detached.clone();
    }

    public void Dispose()
    {
        foreach (var copy in copies.Values)
        {
            copy.Dispose();
        }
    }
}
