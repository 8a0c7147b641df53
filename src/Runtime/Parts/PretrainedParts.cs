using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace CheckpointGen.Parts;

/// <summary>A pretrained module with the state-dict prefix it is registered under (<c>"vae."</c>).</summary>
internal sealed record PretrainedPart(string Prefix, nn.Module Module)
{
    /// <summary>The part's adapters, which train and are checkpointed while the rest of the part is frozen and left out.</summary>
    public AdapterSet Adapters { get; } = AdapterModules.Find(Module);

    /// <summary>Whether the model's <paramref name="key"/> is in this part and not in one of its adapters.</summary>
    public bool HoldsFrozen(string key) => key.StartsWith(Prefix, StringComparison.Ordinal) && !Adapters.Covers(key, Prefix.Length);

    /// <summary>
    /// The part's tensors outside its adapters, by their names in the part, taken from the model's
    /// <paramref name="modelState"/>: what <see cref="AdapterModules.FrozenState"/> gives, without a second state dict.
    /// </summary>
    public Dictionary<string, Tensor> FrozenStateIn(IReadOnlyDictionary<string, Tensor> modelState)
        => modelState.Where(e => HoldsFrozen(e.Key)).ToDictionary(e => e.Key[Prefix.Length..], e => e.Value, StringComparer.Ordinal);

    /// <summary>The part's parameters outside its adapters, by their names in the part.</summary>
    public IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> FrozenParameters() => Adapters.FrozenParameters(Module);
}

/// <summary>
/// Which keys of a model's state dict are pretrained: the registered names of its <see cref="PretrainedAttribute"/>
/// members, found by reference, and those of its <see cref="ICheckpointable"/> submodules.
/// </summary>
internal sealed partial class PretrainedParts
{
    private PretrainedParts(IReadOnlyList<PretrainedPart> all) => All = all;

    /// <summary>The parts, by prefix; a part inside another one is covered by the outer one and not listed.</summary>
    public IReadOnlyList<PretrainedPart> All { get; }

    public IReadOnlyList<string> Prefixes => All.Select(p => p.Prefix).ToArray();

    /// <summary>Whether <paramref name="key"/> is in a pretrained part; the keys of the parts' adapters are not.</summary>
    public bool IsPretrained(string key)
    {
        foreach (var part in All)
        {
            if (part.HoldsFrozen(key))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The parts of <paramref name="model"/> (named <paramref name="modelType"/> in messages) that hold the modules of
    /// <paramref name="fields"/>, refusing a tensor shared across the boundary; <paramref name="state"/> is the model's
    /// state dict when the caller has taken it already.
    /// </summary>
    public static PretrainedParts Resolve(nn.Module model, string modelType, IReadOnlyList<PretrainedField> fields, Dictionary<string, Tensor>? state = null)
    {
        // A module may be registered under several names (an adapter holding the frozen encoder): every one is pretrained.
        var namesOf = new Dictionary<nn.Module, List<string>>(ReferenceEqualityComparer.Instance);
        var moduleNamed = new Dictionary<string, nn.Module>(StringComparer.Ordinal);
        var modules = model.named_modules().ToList();
        foreach (var (name, module) in modules)
        {
            if (!namesOf.TryGetValue(module, out var names))
            {
                namesOf[module] = names = [];
            }
            names.Add(name);
            moduleNamed.TryAdd(name, module);
        }

        var found = new List<PretrainedPart>();
        foreach (var field in fields)
        {
            var module = field.Module ?? throw Unassigned(modelType, field);
            if (!namesOf.TryGetValue(module, out var names))
            {
                throw new InvalidOperationException(
                    $"{modelType}.{field.Name} is marked [Pretrained] but is not a registered submodule of {modelType}: " +
                    "call RegisterComponents() (or register_module) in the constructor before using checkpoint methods.");
            }
            found.AddRange(names.Select(name => new PretrainedPart(name + ".", module)));
        }
        foreach (var (name, child) in modules)
        {
            if (child is ICheckpointable checkpointable)
            {
                foreach (var prefix in checkpointable.PretrainedPrefixes)
                {
                    var full = $"{name}.{prefix}";
                    found.Add(new PretrainedPart(full, moduleNamed[full[..^1]]));
                }
            }
        }
        var parts = found
            .DistinctBy(p => p.Prefix)
            .Where(p => !found.Any(outer => outer.Prefix.Length < p.Prefix.Length && p.Prefix.StartsWith(outer.Prefix, StringComparison.Ordinal)))
            .OrderBy(p => p.Prefix, StringComparer.Ordinal)
            .ToArray();
        var resolved = new PretrainedParts(parts);
        resolved.RefuseTiedAcrossBoundary(state ?? model.state_dict(), modelType);
        return resolved;
    }

    public static InvalidOperationException Unassigned(string modelType, PretrainedField field)
        => new($"{modelType}.{field.Name} is marked [Pretrained] but is null: assign it in the constructor before using checkpoint methods.");

    /// <summary>
    /// A tensor both inside and outside the pretrained parts (tied weights) would be frozen yet saved, and loading a
    /// checkpoint would write into the pretrained part: refused, naming both keys. TorchSharp hands out a new wrapper
    /// for every access, so tensors are compared by the memory they share, not by handle.
    /// </summary>
    private void RefuseTiedAcrossBoundary(Dictionary<string, Tensor> state, string modelType)
    {
        var pretrainedKeyOf = new Dictionary<(DeviceType, IntPtr), string>();
        var trainable = new List<(string Key, (DeviceType, IntPtr) Storage)>();
        foreach (var (key, tensor) in state)
        {
            var storage = StorageOf(tensor);
            if (storage.Item2 == IntPtr.Zero)
            {
                continue;
            }
            if (IsPretrained(key))
            {
                pretrainedKeyOf.TryAdd(storage, key);
            }
            else
            {
                trainable.Add((key, storage));
            }
        }
        foreach (var (key, storage) in trainable)
        {
            if (pretrainedKeyOf.TryGetValue(storage, out var pretrainedKey))
            {
                throw new InvalidOperationException(
                    $"{modelType}: '{key}' shares its memory with the pretrained '{pretrainedKey}' (tied weights), so it would be frozen yet checkpointed. " +
                    "Untie them (give the trainable module its own copy), or mark the module holding it [Pretrained] as well.");
            }
        }
    }

    /// <summary>The storage a tensor views: equal for tied weights, whatever wrapper or view TorchSharp hands out. Empty tensors have none.</summary>
    internal static (DeviceType, IntPtr) StorageOf(Tensor tensor) => (tensor.device_type, tensor.numel() == 0 ? IntPtr.Zero : THSStorage_data_ptr(tensor.Handle));

    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSStorage_data_ptr(IntPtr tensor);
}
