using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Adapters;
using CheckpointGen.Parts;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen;

/// <summary>
/// LoRA (low-rank adaptation) as Hugging Face PEFT does it, for TorchSharp models: a trainable pair of small matrices
/// beside a frozen <see cref="Linear"/> layer, <c>y = W x + b + (alpha / r) * B(A(dropout(x)))</c>. The layer's own keys
/// stay as they are (<c>backbone.q_proj.weight</c>); the adapter's are PEFT's (<c>backbone.q_proj.lora_A.weight</c>,
/// <c>backbone.q_proj.lora_B.weight</c>). Inside a <see cref="PretrainedAttribute"/> part the adapters are adapters as
/// <see cref="AdapterAttribute"/> fields are: trainable and checkpointed while the rest of the part stays frozen.
/// </summary>
/// <remarks>
/// The adapter acts through a forward hook, which TorchSharp runs when the layer is invoked with <c>call(x)</c>
/// (PyTorch's <c>module(x)</c>); a layer invoked with <c>forward(x)</c> skips it. Inject after moving the model to its
/// device: TorchSharp's <c>Linear.to(...)</c> moves only its own weight and bias.
/// </remarks>
public static class Lora
{
    /// <summary>
    /// Adds a LoRA adapter to every <see cref="Linear"/> under <paramref name="root"/> whose path relative to it
    /// (<c>layers.0.attn.q_proj</c>) <paramref name="target"/> accepts: <c>lora_A</c> Kaiming-uniform, <c>lora_B</c> zero, so
    /// the outputs do not change until the adapters train. Nothing changes when it throws.
    /// </summary>
    /// <param name="root">The module to adapt: a whole model, or one of its parts.</param>
    /// <param name="target">Which layers, by path relative to <paramref name="root"/>, for example <c>p =&gt; p.EndsWith("q_proj")</c>.</param>
    /// <param name="rank">The rank r of the adapter matrices.</param>
    /// <param name="alpha">The LoRA alpha: the adapter's term is scaled by alpha / r.</param>
    /// <param name="dropout">The dropout applied to the adapter's input while training.</param>
    /// <returns>The paths adapted, relative to <paramref name="root"/>, in registration order.</returns>
    /// <exception cref="ArgumentException">No layer matches, or an argument is out of range.</exception>
    /// <exception cref="InvalidOperationException">A matching layer already has an adapter, or a submodule named like one.</exception>
    public static IReadOnlyList<string> Inject(nn.Module root, Func<string, bool> target, int rank, double alpha, double dropout = 0)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(target);
        RequireSettings(rank, alpha, dropout);
        var candidates = Targets(root);
        var chosen = candidates
            .Select(c => (Path: c.Paths.FirstOrDefault(target), c.Layer))
            .Where(c => c.Path is not null)
            .ToList();
        if (chosen.Count == 0)
        {
            throw new ArgumentException(
                $"No Linear layer under {CheckpointPolicy.DisplayName(root.GetType())} matches the target. Its Linear layers: " +
                (candidates.Count == 0 ? "none" : Names(candidates.Select(c => c.Paths[0]))) + ".",
                nameof(target));
        }
        RequireFree(chosen.Select(c => (c.Path!, c.Layer)));
        foreach (var (_, layer) in chosen)
        {
            LoraLinear.Add(layer, rank, alpha, dropout);
        }
        return chosen.Select(c => c.Path!).ToArray();
    }

    /// <summary>
    /// Folds every LoRA adapter under <paramref name="root"/> into its layer's weight (<c>W += (alpha / r) B A</c>, PEFT's
    /// <c>merge_and_unload</c>) and removes the adapters: the outputs stay the same (up to float rounding) and the layers
    /// are plain <see cref="Linear"/> layers again. A merged layer inside a pretrained part changes that part's weights,
    /// so checkpoints saved before the merge no longer fit the model.
    /// </summary>
    /// <returns>The paths merged, relative to <paramref name="root"/>.</returns>
    public static IReadOnlyList<string> Merge(nn.Module root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var adapted = Adapted(root);
        foreach (var (_, layer) in adapted)
        {
            layer.Merge();
        }
        return adapted.Select(a => a.Path).ToArray();
    }

    /// <summary>The paths, relative to <paramref name="root"/>, of the layers under it that have a LoRA adapter.</summary>
    public static IReadOnlyList<string> AdaptedPaths(nn.Module root)
    {
        ArgumentNullException.ThrowIfNull(root);
        return Adapted(root).Select(a => a.Path).ToArray();
    }

    /// <summary>The adapted layers under <paramref name="root"/>, each once, by the first name it is registered under.</summary>
    internal static IReadOnlyList<(string Path, LoraLinear Layer)> Adapted(nn.Module root)
        => WithRoot(root)
            .Select(m => (Path: m.name, Layer: LoraLinear.Of(m.module)))
            .Where(m => m.Layer is not null)
            .DistinctBy(m => m.Layer, ReferenceEqualityComparer.Instance)
            .Select(m => (m.Path, m.Layer!))
            .ToArray();

    /// <summary>The layers an adapter can go on: every <see cref="Linear"/> under <paramref name="root"/> but the adapters' own matrices, each once with all its names.</summary>
    internal static IReadOnlyList<(IReadOnlyList<string> Paths, Linear Layer)> Targets(nn.Module root)
        => WithRoot(root)
            .Where(m => m.module is Linear && !AdapterModules.IsMarked(m.module))
            .GroupBy(m => m.module, ReferenceEqualityComparer.Instance)
            .Select(g => ((IReadOnlyList<string>)g.Select(m => m.name).ToArray(), (Linear)g.Key!))
            .ToArray();

    /// <summary><paramref name="root"/> itself (path <c>""</c>, as PyTorch names it), then every module under it.</summary>
    private static IEnumerable<(string name, nn.Module module)> WithRoot(nn.Module root) => root.named_modules().Prepend(("", root));

    internal static void RequireSettings(int rank, double alpha, double dropout)
    {
        if (rank < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, "A LoRA rank is at least 1.");
        }
        if (!double.IsFinite(alpha))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "LoRA alpha must be a finite number.");
        }
        if (!(dropout >= 0 && dropout < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "LoRA dropout is a probability in [0, 1).");
        }
    }

    /// <summary>Refuses layers that already have an adapter, or a submodule that an adapter's would clash with.</summary>
    internal static void RequireFree(IEnumerable<(string Path, Linear Layer)> layers)
    {
        var taken = layers
            .Where(l => LoraLinear.Of(l.Layer) is not null || l.Layer.named_children().Any(c => c.name is LoraLinear.DownName or LoraLinear.UpName))
            .Select(l => l.Path)
            .ToArray();
        if (taken.Length > 0)
        {
            throw new InvalidOperationException(
                $"{Names(taken)} already {(taken.Length == 1 ? "has" : "have")} a LoRA adapter (a submodule named '{LoraLinear.DownName}' or '{LoraLinear.UpName}'): " +
                "merge it first (Lora.Merge), or leave the layer out of the target.");
        }
    }

    internal static string Names(IEnumerable<string> names)
    {
        var all = names.ToArray();
        const int Shown = 12;
        var shown = string.Join(", ", all.Take(Shown).Select(n => $"'{n}'"));
        return all.Length > Shown ? $"{shown} and {all.Length - Shown} more" : shown;
    }
}
