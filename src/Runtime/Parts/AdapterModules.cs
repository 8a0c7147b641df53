using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen.Parts;

/// <summary>
/// Which submodules of a module are adapters: the values of its modules' <see cref="AdapterAttribute"/> fields, and the
/// modules the runtime itself added as adapters (the matrices <see cref="Lora.Inject"/> registers). Inside a pretrained
/// part they train and are checkpointed; the rest of the part is frozen, left out and verified.
/// </summary>
internal static class AdapterModules
{
    private static readonly ConcurrentDictionary<Type, FieldInfo[]> AdapterFields = new();
    private static readonly ConditionalWeakTable<nn.Module, object> Marked = new();
    private static readonly object Present = new();

    /// <summary>Makes <paramref name="module"/> an adapter wherever it is registered, as an <c>[Adapter]</c> field would.</summary>
    public static void Mark(nn.Module module) => Marked.AddOrUpdate(module, Present);

    /// <summary>Whether the runtime added <paramref name="module"/> as an adapter (<see cref="Mark"/>).</summary>
    public static bool IsMarked(nn.Module module) => Marked.TryGetValue(module, out _);

    /// <summary>
    /// The adapters under <paramref name="root"/>, by the names they are registered under relative to it (a module
    /// registered twice has both).
    /// </summary>
    /// <exception cref="InvalidOperationException">An <c>[Adapter]</c> field holds a module that is not registered under <paramref name="root"/>.</exception>
    public static AdapterSet Find(nn.Module root)
    {
        var modules = root.named_modules().ToList();
        var registered = modules.Select(m => m.module).ToHashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        var adapters = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        // The root's own [Adapter] fields count too; the root itself is never one of its adapters.
        foreach (var module in modules.Select(m => m.module).Prepend(root))
        {
            if (IsMarked(module) && !ReferenceEquals(module, root))
            {
                adapters.Add(module);
            }
            foreach (var (field, value) in FieldValues(module))
            {
                if (!registered.Contains(value))
                {
                    throw new InvalidOperationException(
                        $"{CheckpointPolicy.DisplayName(module.GetType())}.{field.Name} is marked [Adapter] but is not a registered submodule: " +
                        "call RegisterComponents() (or register_module) in its constructor, or its parameters would neither train nor reach a checkpoint.");
                }
                adapters.Add(value);
            }
        }
        return new AdapterSet(
            modules.Where(m => adapters.Contains(m.module)).Select(m => m.name).ToHashSet(StringComparer.Ordinal),
            adapters.ToArray());
    }

    /// <summary>
    /// The adapter modules under <paramref name="root"/>, registered or not, without resolving names: what switching
    /// training modes needs, which TorchSharp may ask for before a constructor has registered anything.
    /// </summary>
    public static IEnumerable<nn.Module> Modules(nn.Module root)
        => root.modules()
            .Prepend(root)
            .SelectMany(module => FieldValues(module).Select(f => f.Value).Concat(IsMarked(module) && !ReferenceEquals(module, root) ? new[] { module } : Array.Empty<nn.Module>()))
            .Distinct<nn.Module>(ReferenceEqualityComparer.Instance);

    /// <summary><c>state_dict()</c> of <paramref name="root"/> without its adapters' keys: what a pretrained part loads, freezes and fingerprints.</summary>
    public static Dictionary<string, Tensor> FrozenState(nn.Module root)
    {
        var adapters = Find(root);
        return root.state_dict().Where(e => !adapters.Covers(e.Key)).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
    }

    private static IEnumerable<(FieldInfo Field, nn.Module Value)> FieldValues(nn.Module module)
    {
        foreach (var field in AdapterFields.GetOrAdd(module.GetType(), FieldsOf))
        {
            if (field.GetValue(module) is nn.Module value)
            {
                yield return (field, value);
            }
        }
    }

    /// <summary>The instance fields marked <c>[Adapter]</c> of the type and its base types (a <c>[field: Adapter]</c> property's backing field included).</summary>
    private static FieldInfo[] FieldsOf(Type type)
    {
        var fields = new List<FieldInfo>();
        for (var current = type; current is not null && current != typeof(nn.Module); current = current.BaseType)
        {
            fields.AddRange(current
                .GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                .Where(f => f.IsDefined(typeof(AdapterAttribute), inherit: false)));
        }
        return fields.ToArray();
    }
}

/// <summary>The adapters of one module: their names relative to it and the modules themselves.</summary>
internal sealed class AdapterSet(IReadOnlySet<string> names, IReadOnlyList<nn.Module> modules)
{
    /// <summary>The registered names of the adapters, relative to the module searched.</summary>
    public IReadOnlySet<string> Names { get; } = names;

    /// <summary>Every adapter module found.</summary>
    public IReadOnlyList<nn.Module> Modules { get; } = modules;

    /// <summary>
    /// Whether <paramref name="key"/> from <paramref name="start"/> on (the key relative to the module searched) belongs
    /// to an adapter: some prefix of it up to a dot is an adapter's name.
    /// </summary>
    public bool Covers(string key, int start = 0)
    {
        if (Names.Count == 0)
        {
            return false;
        }
        for (var dot = key.IndexOf('.', start); dot >= 0; dot = key.IndexOf('.', dot + 1))
        {
            if (Names.Contains(key[start..dot]))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The named parameters of <paramref name="module"/> (the module searched) that belong to no adapter.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> FrozenParameters(nn.Module module) => module.named_parameters().Where(p => !Covers(p.name));
}
