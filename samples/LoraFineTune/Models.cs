using System;
using System.Linq;
using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Samples.Lora;

/// <summary>Multi-head self-attention. The projections are invoked with <c>call</c>, which runs their LoRA adapters' hooks.</summary>
public sealed class SelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly long heads;
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;

    public SelfAttention(long dim, long heads) : base(nameof(SelfAttention))
    {
        this.heads = heads;
        q_proj = nn.Linear(dim, dim);
        k_proj = nn.Linear(dim, dim);
        v_proj = nn.Linear(dim, dim);
        o_proj = nn.Linear(dim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var (batch, length, dim) = (x.shape[0], x.shape[1], x.shape[2]);
        using var q = Split(q_proj.call(x), batch, length, dim);
        using var k = Split(k_proj.call(x), batch, length, dim);
        using var v = Split(v_proj.call(x), batch, length, dim);
        using var keys = k.transpose(-2, -1);
        using var products = q.matmul(keys);
        using var scores = products.div(Math.Sqrt(dim / heads));
        using var weights = scores.softmax(-1);
        using var mixed = weights.matmul(v);
        using var joined = mixed.transpose(1, 2).reshape(batch, length, dim);
        return o_proj.call(joined);
    }

    /// <summary>[batch, length, dim] to [batch, heads, length, dim / heads].</summary>
    private Tensor Split(Tensor projected, long batch, long length, long dim)
    {
        using (projected)
        {
            using var viewed = projected.view(batch, length, heads, dim / heads);
            return viewed.transpose(1, 2);
        }
    }
}

/// <summary>A pre-norm transformer block.</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm attention_norm;
    private readonly SelfAttention attention;
    private readonly LayerNorm mlp_norm;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    public TransformerBlock(long dim, long heads) : base(nameof(TransformerBlock))
    {
        attention_norm = nn.LayerNorm(dim);
        attention = new SelfAttention(dim, heads);
        mlp_norm = nn.LayerNorm(dim);
        up_proj = nn.Linear(dim, 4 * dim);
        down_proj = nn.Linear(4 * dim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var normalized = attention_norm.call(x);
        using var attended = attention.call(normalized);
        using var h = x + attended;
        using var normalized2 = mlp_norm.call(h);
        using var expanded = up_proj.call(normalized2);
        using var activated = nn.functional.gelu(expanded);
        using var contracted = down_proj.call(activated);
        return h + contracted;
    }
}

/// <summary>The "pretrained" backbone: three transformer blocks of width 512, about 9.5 million parameters (38 MB).</summary>
public sealed class Backbone : nn.Module<Tensor, Tensor>
{
    public const long Dim = 512;
    public const long Heads = 8;

    private readonly ModuleList<TransformerBlock> layers;
    private readonly LayerNorm norm;

    public Backbone(int blocks = 3) : base(nameof(Backbone))
    {
        layers = nn.ModuleList(Enumerable.Range(0, blocks).Select(_ => new TransformerBlock(Dim, Heads)).ToArray());
        norm = nn.LayerNorm(Dim);
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
        using (h)
        {
            return norm.call(h);
        }
    }
}

/// <summary>A sequence classifier on the frozen backbone: LoRA adapters inside the backbone and the head train.</summary>
public sealed partial class SequenceClassifier : nn.Module<Tensor, Tensor>
{
    public const string BackboneWeights = "weights/backbone.safetensors";
    public const long Classes = 4;

    [Pretrained(BackboneWeights)]
    private readonly Backbone backbone;

    private readonly Linear head;

    public SequenceClassifier() : base(nameof(SequenceClassifier))
    {
        backbone = new Backbone();
        head = nn.Linear(Backbone.Dim, Classes);
        RegisterComponents();
        FreezePretrained();
    }

    public Backbone Backbone => backbone;

    public override Tensor forward(Tensor x)
    {
        using var features = backbone.call(x);
        using var pooled = features.mean([1]);
        return head.call(pooled);
    }
}
