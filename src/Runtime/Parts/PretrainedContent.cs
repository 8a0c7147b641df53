using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using static TorchSharp.torch;

namespace CheckpointGen.Parts;

/// <summary>
/// The content fingerprint of each pretrained module's weights as they are now, hashed at most once per process while
/// they stay unchanged, and their structural fingerprint beside it, so that saves and loads cost the same whatever the
/// size of the frozen part.
/// </summary>
/// <remarks>
/// Whether the weights changed is asked of PyTorch's own bookkeeping: every in-place operation (<c>copy_</c>,
/// <c>add_</c>, <c>set_</c>, <c>load_state_dict</c>, an optimizer step) increments a tensor's version counter, which
/// its views share, and autograd refuses to hand back a tensor it saved before such a change. Each hash is therefore
/// kept with a <see cref="VersionProbe"/>, which saved every tensor as autograd saves an operation's inputs; asking for
/// them back (no arithmetic, no backward pass: about a microsecond per tensor, none per byte) says whether anything
/// was written since. Writes that bypass PyTorch (through a tensor's raw bytes) are not seen.
/// </remarks>
internal static class PretrainedContent
{
    private static readonly ConditionalWeakTable<nn.Module, Recorded> Hashes = new();
    private static long hashesComputed;
    private static long probesRun;

    /// <summary>How many times weights were hashed in this process: what "at most once while unchanged" is measured by.</summary>
    internal static long HashesComputed => Interlocked.Read(ref hashesComputed);

    /// <summary>How many times a probe was asked whether weights were written in this process: a load asks once per part.</summary>
    internal static long ProbesRun => Interlocked.Read(ref probesRun);

    /// <summary>
    /// The hash of the module's weights, their structural fingerprint, their layout (key, storage, dtype, shape of each
    /// tensor), the tensors themselves, and the probe that tells whether they changed.
    /// </summary>
    private sealed class Recorded(string fingerprint, Dictionary<string, Tensor> state, VersionProbe probe, bool fromSource)
    {
        private readonly KeyValuePair<string, Tensor>[] members = [.. state];

        public string Fingerprint { get; } = fingerprint;

        public string Structure { get; } = CheckpointMetadata.StructuralFingerprint(state);

        public string Layout { get; } = PretrainedContent.Layout(state);

        public bool FromSource { get; } = fromSource;

        /// <summary>
        /// Whether <paramref name="state"/> holds what was hashed. The same tensor objects under the same keys change
        /// their storage, shape or values only in place, which the probe sees; other objects are compared by layout.
        /// </summary>
        public bool Unchanged(Dictionary<string, Tensor> state)
            => (SameMembers(state) || PretrainedContent.Layout(state) == Layout) && NotWrittenSince();

        /// <summary>
        /// Whether the frozen tensors of <paramref name="part"/> in the model's <paramref name="modelState"/> are the
        /// members, under the same names in the part: <see cref="PretrainedPart.FrozenStateIn"/> compared without building it.
        /// </summary>
        public bool SameMembersIn(PretrainedPart part, IReadOnlyDictionary<string, Tensor> modelState)
        {
            var i = 0;
            foreach (var (key, tensor) in modelState)
            {
                if (!part.HoldsFrozen(key))
                {
                    continue;
                }
                if (i == members.Length || !ReferenceEquals(tensor, members[i].Value) || !key.AsSpan(part.Prefix.Length).SequenceEqual(members[i].Key))
                {
                    return false;
                }
                i++;
            }
            return i == members.Length;
        }

        /// <summary>Whether no member was written since it was hashed.</summary>
        public bool NotWrittenSince()
        {
            Interlocked.Increment(ref probesRun);
            return probe.NotWrittenSince();
        }

        private bool SameMembers(Dictionary<string, Tensor> state)
        {
            if (state.Count != members.Length)
            {
                return false;
            }
            var i = 0;
            foreach (var (key, tensor) in state)
            {
                if (!ReferenceEquals(tensor, members[i].Value) || key != members[i].Key)
                {
                    return false;
                }
                i++;
            }
            return true;
        }
    }

    /// <summary>
    /// The structural and content fingerprints of <paramref name="part"/>'s weights now, its tensors taken from the
    /// model's <paramref name="modelState"/>: remembered while they are unchanged, else computed.
    /// </summary>
    /// <param name="part">The part.</param>
    /// <param name="modelState">The model's state dict.</param>
    public static (string Structure, string Content) Of(PretrainedPart part, IReadOnlyDictionary<string, Tensor> modelState)
    {
        lock (Hashes)
        {
            // The same tensor objects as last time, the usual case, are compared where they are: no dictionary of the part is built.
            var recorded = Hashes.TryGetValue(part.Module, out var earlier) && earlier.SameMembersIn(part, modelState)
                ? earlier.NotWrittenSince() ? earlier : Record(part.Module, part.FrozenStateIn(modelState), fromSource: false)
                : Current(part.Module, part.FrozenStateIn(modelState));
            return (recorded.Structure, recorded.Fingerprint);
        }
    }

    /// <summary>
    /// Whether the weights now in <paramref name="module"/> are those <c>LoadPretrained()</c> read from its source
    /// (unchanged since), for messages that name the likely cause of a mismatch.
    /// </summary>
    public static bool CameFromSource(nn.Module module)
        => Hashes.TryGetValue(module, out var recorded) && recorded.FromSource && Current(module, AdapterModules.FrozenState(module)) == recorded;

    /// <summary>Hashes the weights <c>LoadPretrained()</c> just put in, marking them as from the source.</summary>
    public static void RecordLoaded(nn.Module module) => Record(module, AdapterModules.FrozenState(module), fromSource: true);

    /// <summary>Drops what is remembered of the module (before its weights are replaced), so no probe keeps the old memory alive.</summary>
    public static void Forget(nn.Module module) => Hashes.Remove(module);

    /// <summary>
    /// What is remembered of <paramref name="module"/> while its <paramref name="state"/> (its tensors outside its
    /// adapters, which train: they are checkpointed, never part of what is verified) is unchanged; else a new hash.
    /// </summary>
    private static Recorded Current(nn.Module module, Dictionary<string, Tensor> state)
    {
        lock (Hashes)
        {
            return Hashes.TryGetValue(module, out var recorded) && recorded.Unchanged(state)
                ? recorded
                : Record(module, state, fromSource: false);
        }
    }

    private static Recorded Record(nn.Module module, Dictionary<string, Tensor> state, bool fromSource)
    {
        lock (Hashes)
        {
            var recorded = new Recorded(CheckpointMetadata.ContentFingerprint(state), state, VersionProbe.Of(state.Values), fromSource);
            Interlocked.Increment(ref hashesComputed);
            Hashes.AddOrUpdate(module, recorded);
            return recorded;
        }
    }

    private static string Layout(Dictionary<string, Tensor> state)
    {
        var text = new StringBuilder();
        foreach (var (key, tensor) in state.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            text.Append(key).Append(':').Append(PretrainedParts.StorageOf(tensor)).Append(':').Append(tensor.storage_offset())
                .Append(':').Append(tensor.dtype).Append(':').AppendJoin(',', tensor.shape).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// Tensors saved the way an autograd operation saves its inputs, each with its version counter at the time: one
    /// custom autograd node holds them all, and asking it for them back fails once any was written in place.
    /// </summary>
    private sealed class VersionProbe
    {
        // The output's grad_fn is the node: it lives while the output does. The context is how its saved tensors are asked for.
        private readonly Tensor output;
        private readonly autograd.AutogradContext context;

        private VersionProbe(Tensor output, autograd.AutogradContext context)
        {
            this.output = output;
            this.context = context;
        }

        public static VersionProbe Of(IEnumerable<Tensor> tensors)
        {
            // A node is built (and saves anything) only when an input requires grad: a one-element leaf does.
            using var grad = enable_grad();
            using var leaf = ones(1, requires_grad: true);
            var saved = new Saved(tensors.ToList());
            var output = Node.apply(leaf, saved);
            saved.Forwarded!.Dispose();
            return new VersionProbe(output, saved.Context!);
        }

        /// <summary>Whether every saved tensor is still at the version it was saved at.</summary>
        public bool NotWrittenSince()
        {
            List<Tensor> unpacked;
            try
            {
                unpacked = context.get_saved_variables();
            }
            catch (ExternalException)
            {
                // "modified by an inplace operation": a saved tensor's version moved on.
                return false;
            }
            unpacked.ForEach(t => t.Dispose());
            return true;
        }

        /// <summary>What the node saves, and where it hands back its context and what its forward returned.</summary>
        private sealed class Saved(List<Tensor> tensors)
        {
            public List<Tensor> Tensors { get; } = tensors;

            public autograd.AutogradContext? Context { get; set; }

            /// <summary>
            /// Held here until the node is built: TorchSharp keeps no reference to it while libtorch wraps it, so a
            /// collection in between could finalize it, freeing the tensor under libtorch.
            /// </summary>
            public Tensor? Forwarded { get; set; }
        }

        /// <summary>The node: its forward saves the tensors; its backward never runs (nothing calls backward on the output).</summary>
        private sealed class Node : autograd.SingleTensorFunction<Node>
        {
            public override string Name => nameof(VersionProbe);

            public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
            {
                var saved = (Saved)vars[1];
                ctx.save_for_backward(saved.Tensors);
                saved.Context = ctx;
                saved.Forwarded = ((Tensor)vars[0]).alias();
                return saved.Forwarded;
            }

            public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output) => [grad_output];
        }
    }
}
