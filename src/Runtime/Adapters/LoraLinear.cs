using System;
using System.Runtime.CompilerServices;
using CheckpointGen.Parts;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Adapters;

/// <summary>
/// One <see cref="Linear"/> with a LoRA adapter, as Hugging Face PEFT computes it:
/// <c>y = W x + b + (alpha / r) * B(A(dropout(x)))</c>. <c>A</c> (<c>lora_A</c>, r × in) and <c>B</c> (<c>lora_B</c>,
/// out × r) are registered under the layer, so their keys are PEFT's (<c>q_proj.lora_A.weight</c>) and the layer's own
/// keys stay as they were; a forward hook adds their term to the layer's output.
/// </summary>
/// <remarks>
/// TorchSharp runs forward hooks in <c>call(x)</c>, not in <c>forward(x)</c>: a layer invoked with <c>forward</c> skips
/// its adapter. TorchSharp's <c>Linear.to(...)</c> moves only its own weight and bias, so adapters are created on the
/// layer's device and dtype, and the hook refuses an input on another device rather than mix them.
/// </remarks>
internal sealed class LoraLinear
{
    /// <summary>The name of the down projection under the layer, as PEFT names it.</summary>
    public const string DownName = "lora_A";

    /// <summary>The name of the up projection under the layer, as PEFT names it.</summary>
    public const string UpName = "lora_B";

    private static readonly ConditionalWeakTable<Linear, LoraLinear> Layers = new();

    private readonly Action removeHook;

    private LoraLinear(Linear target, Linear down, Linear up, int rank, double alpha, double dropout)
    {
        Target = target;
        Down = down;
        Up = up;
        Rank = rank;
        Alpha = alpha;
        Dropout = dropout;
        removeHook = target.register_forward_hook(AddAdapterTerm).remove;
    }

    public Linear Target { get; }

    /// <summary><c>lora_A</c>: in → r, Kaiming-uniform as PEFT initialises it.</summary>
    public Linear Down { get; }

    /// <summary><c>lora_B</c>: r → out, zero at first, so a new adapter changes nothing.</summary>
    public Linear Up { get; }

    public int Rank { get; }

    public double Alpha { get; }

    public double Dropout { get; }

    /// <summary><c>alpha / r</c>, PEFT's scaling.</summary>
    public double Scaling => Alpha / Rank;

    /// <summary>The adapter of <paramref name="module"/>, or <see langword="null"/> when it is not a <see cref="Linear"/> with one.</summary>
    public static LoraLinear? Of(nn.Module module) => module is Linear linear && Layers.TryGetValue(linear, out var layer) ? layer : null;

    /// <summary>Adds an adapter to <paramref name="target"/>, which has none and no submodule of either name.</summary>
    public static LoraLinear Add(Linear target, int rank, double alpha, double dropout)
    {
        var weight = target.weight;
        // nn.Linear initialises its weight Kaiming-uniform with a = sqrt(5): PEFT's initialisation of lora_A.
        var down = nn.Linear(target.in_features, rank, hasBias: false, device: weight.device, dtype: weight.dtype);
        var up = nn.Linear(rank, target.out_features, hasBias: false, device: weight.device, dtype: weight.dtype);
        using (no_grad())
        {
            nn.init.zeros_(up.weight);
        }
        // The adapter starts in its layer's mode (eval inside a frozen part); the model's train() puts it in training mode.
        down.train(target.training);
        up.train(target.training);
        target.register_module(DownName, down);
        target.register_module(UpName, up);
        AdapterModules.Mark(down);
        AdapterModules.Mark(up);
        var layer = new LoraLinear(target, down, up, rank, alpha, dropout);
        Layers.Add(target, layer);
        return layer;
    }

    /// <summary>Folds the adapter into the layer's weight (<c>W += (alpha / r) B A</c>) and removes it.</summary>
    public void Merge()
    {
        using (no_grad())
        {
            using var delta = Up.weight.matmul(Down.weight);
            using var scaled = delta.mul(Scaling);
            Target.weight.add_(scaled);
        }
        Remove();
    }

    /// <summary>Unregisters the adapter's modules and its hook: the layer is a plain <see cref="Linear"/> again.</summary>
    /// <remarks>The matrices are not disposed: an optimizer may still hold their parameters.</remarks>
    private void Remove()
    {
        removeHook();
        // TorchSharp's register_module removes the name when given no module.
        Target.register_module(DownName, null!);
        Target.register_module(UpName, null!);
        Layers.Remove(Target);
    }

    private Tensor AddAdapterTerm(nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
    {
        var weight = Down.weight;
        if (input.device_type != weight.device_type || input.device_index != weight.device_index)
        {
            throw new InvalidOperationException(
                $"The LoRA adapter of a Linear layer is on {weight.device} but its input is on {input.device}: TorchSharp's Linear.to(...) " +
                "moves only its own weight and bias. Move the model before calling Lora.Inject (or LoadAdapters).");
        }
        using var dropped = Dropout > 0 ? nn.functional.dropout(input, Dropout, training: Down.training) : input.alias();
        using var down = Down.forward(dropped);
        using var up = Up.forward(down);
        using var scaled = up.mul(Scaling);
        return output.add(scaled);
    }
}
