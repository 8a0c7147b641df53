using System;
using System.Linq;
using CheckpointGen.Reliability;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Models;

/// <summary>Self-attention with the projections LoRA targets; mirrors <c>Attention</c> of PyTorch/lora_reference.py.</summary>
/// <remarks>The projections are invoked with <c>call</c>, which runs TorchSharp's forward hooks, and so their adapters.</remarks>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    private readonly long dim;
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;

    public Attention(long dim) : base(nameof(Attention))
    {
        this.dim = dim;
        q_proj = nn.Linear(dim, dim);
        k_proj = nn.Linear(dim, dim);
        v_proj = nn.Linear(dim, dim);
        o_proj = nn.Linear(dim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var q = q_proj.call(x);
        using var k = k_proj.call(x);
        using var v = v_proj.call(x);
        using var keys = k.transpose(-1, -2);
        using var products = q.matmul(keys);
        using var scores = products.div(Math.Sqrt(dim));
        using var weights = scores.softmax(-1);
        using var mixed = weights.matmul(v);
        return o_proj.call(mixed);
    }
}

/// <summary>A pre-norm transformer block; mirrors <c>Block</c> of PyTorch/lora_reference.py.</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly Attention attn;
    private readonly Linear up;
    private readonly Linear down;

    public TransformerBlock(long dim, long hidden) : base(nameof(TransformerBlock))
    {
        norm = nn.LayerNorm(dim);
        attn = new Attention(dim);
        up = nn.Linear(dim, hidden);
        down = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var normalized = norm.call(x);
        using var attended = attn.call(normalized);
        using var h = x + attended;
        using var expanded = up.call(h);
        using var activated = nn.functional.relu(expanded);
        using var contracted = down.call(activated);
        return h + contracted;
    }
}

/// <summary>A stack of blocks; mirrors <c>Backbone</c> of PyTorch/lora_reference.py.</summary>
public sealed class Backbone : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<TransformerBlock> layers;

    public Backbone(long dim, long hidden, int count) : base(nameof(Backbone))
    {
        layers = nn.ModuleList(Enumerable.Range(0, count).Select(_ => new TransformerBlock(dim, hidden)).ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = x.alias();
        foreach (var layer in layers)
        {
            using var previous = h;
            h = layer.call(previous);
        }
        return h;
    }
}

/// <summary>
/// A frozen transformer backbone from PyTorch's weights and a trainable head; mirrors <c>Classifier</c> of
/// PyTorch/lora_reference.py, whose weights are in <see cref="Source"/>.
/// </summary>
public sealed partial class LoraClassifier : nn.Module<Tensor, Tensor>
{
    public const string Folder = "PyTorch/lora";
    public const string Source = Folder + "/base.safetensors";
    public const long Dim = 16;

    [Pretrained(Source, KeyPrefix = "backbone.")]
    private readonly Backbone backbone;

    private readonly Linear head;

    public LoraClassifier() : base(nameof(LoraClassifier))
    {
        backbone = StandInWeights.Create(() => new Backbone(Dim, hidden: 32, count: 2));
        head = nn.Linear(Dim, 3);
        RegisterComponents();
        FreezePretrained();
    }

    public Backbone Backbone => backbone;

    public Linear Head => head;

    public override Tensor forward(Tensor x)
    {
        using var features = backbone.call(x);
        using var pooled = features.mean([1]);
        return head.call(pooled);
    }
}

/// <summary>A stand-in pretrained encoder with an adapter of its own: a residual bottleneck after the BatchNorm.</summary>
public sealed class AdaptedEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Linear input;
    private readonly BatchNorm1d norm;
    private readonly Linear output;

    [Adapter]
    private readonly Sequential adapter;

    public AdaptedEncoder() : base(nameof(AdaptedEncoder))
    {
        input = nn.Linear(16, 32);
        norm = nn.BatchNorm1d(32);
        output = nn.Linear(32, 8);
        adapter = nn.Sequential(("down", nn.Linear(32, 4)), ("drop", nn.Dropout(0.5)), ("up", nn.Linear(4, 32)));
        RegisterComponents();
    }

    public BatchNorm1d Norm => norm;

    public Sequential Adapter => adapter;

    public override Tensor forward(Tensor x)
    {
        using var hidden = input.forward(x);
        using var normalized = norm.forward(hidden);
        using var activated = nn.functional.relu(normalized);
        using var adapted = adapter.forward(activated);
        using var sum = activated + adapted;
        return output.forward(sum);
    }
}

/// <summary>A frozen encoder whose <see cref="AdapterAttribute"/> bottleneck trains with the head.</summary>
public sealed partial class AdaptedCaptioner : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/adapted-encoder.safetensors";

    [Pretrained(Source)]
    private readonly AdaptedEncoder vae;

    private readonly Linear head;

    public AdaptedCaptioner() : base(nameof(AdaptedCaptioner))
    {
        vae = StandInWeights.Create(() => new AdaptedEncoder());
        head = nn.Linear(8, 4);
        RegisterComponents();
        FreezePretrained();
    }

    public AdaptedEncoder Vae => vae;

    public override Tensor forward(Tensor x)
    {
        using var features = vae.forward(x);
        return head.forward(features);
    }
}

/// <summary>An <see cref="AdapterAttribute"/> field assigned after construction and never registered.</summary>
public sealed class LateAdapterEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Linear input = nn.Linear(4, 4);

    [Adapter]
    private Linear? adapter;

    public LateAdapterEncoder() : base(nameof(LateAdapterEncoder))
    {
        RegisterComponents();
    }

    /// <summary>Assigns the adapter without registering it, as code that forgets <c>register_module</c> does.</summary>
    public void Attach() => adapter = nn.Linear(4, 4);

    public override Tensor forward(Tensor x) => adapter is null ? input.forward(x) : input.forward(x) + adapter.forward(x);
}

/// <summary>Holds a <see cref="LateAdapterEncoder"/> as its pretrained part.</summary>
public sealed partial class LateAdapterModel : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly LateAdapterEncoder encoder = new();

    public LateAdapterModel() : base(nameof(LateAdapterModel))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public LateAdapterEncoder Encoder => encoder;

    public override Tensor forward(Tensor x) => encoder.forward(x);
}
