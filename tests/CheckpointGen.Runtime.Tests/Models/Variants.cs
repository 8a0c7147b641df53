using CheckpointGen.Reliability;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Models;

/// <summary>The pretrained field is registered under another name than the field's.</summary>
public sealed partial class RenamedEncoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "backbone")]
    [Pretrained]
    private readonly Encoder encoder = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 2);

    public RenamedEncoder() : base(nameof(RenamedEncoder))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}

/// <summary>Registered by hand, under a name no field carries.</summary>
public sealed partial class ManuallyRegistered : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Encoder encoder = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 2);

    public ManuallyRegistered() : base(nameof(ManuallyRegistered))
    {
        register_module("frozen_trunk", encoder);
        register_module("classifier", head);
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}

/// <summary>Forgets to register its modules.</summary>
public sealed partial class Unregistered : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Encoder encoder = StandInWeights.Create(() => new Encoder());

    public Unregistered() : base(nameof(Unregistered))
    {
    }

    public override Tensor forward(Tensor x) => encoder.forward(x);
}

/// <summary>A component with its own pretrained part, used inside <see cref="Pipeline"/>.</summary>
public sealed partial class Decoder : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/decoder-text-encoder.dat";

    [Pretrained(Source)]
    private readonly Encoder text_encoder = StandInWeights.Create(() => new Encoder(inputs: 8));

    private readonly Linear output = nn.Linear(8, 8);

    public Decoder() : base(nameof(Decoder))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder TextEncoder => text_encoder;

    public override Tensor forward(Tensor x) => output.forward(text_encoder.forward(x));
}

/// <summary>Holds an <see cref="ICheckpointable"/> child: its checkpoint leaves out <c>decoder.text_encoder.</c> too.</summary>
public sealed partial class Pipeline : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/pipeline-vae.safetensors";

    [Pretrained(Source)]
    private readonly Encoder vae = StandInWeights.Create(() => new Encoder());

    private readonly Decoder decoder = new();

    public Pipeline() : base(nameof(Pipeline))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Vae => vae;

    public Decoder Decoder => decoder;

    public override Tensor forward(Tensor x) => decoder.forward(vae.forward(x));
}

/// <summary>Two pretrained parts taken from one whole-model file, each under its own prefix.</summary>
public sealed partial class TwoFromOneFile : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/whole-model.safetensors";

    [Pretrained(Source, KeyPrefix = "model.vision.")]
    private readonly Encoder vision = StandInWeights.Create(() => new Encoder());

    [Pretrained(Source, KeyPrefix = "model.text.")]
    private readonly Encoder text = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(16, 2);

    public TwoFromOneFile() : base(nameof(TwoFromOneFile))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Vision => vision;

    public Encoder Text => text;

    public override Tensor forward(Tensor x) => head.forward(cat([vision.forward(x), text.forward(x)], 1));
}

/// <summary>A trainable module that holds a reference to the frozen encoder: the encoder is registered under two names.</summary>
public sealed class Adapter : nn.Module<Tensor, Tensor>
{
    private readonly Encoder inner;
    private readonly Linear projection = nn.Linear(8, 8);

    public Adapter(Encoder inner) : base(nameof(Adapter))
    {
        this.inner = inner;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => projection.forward(inner.forward(x));
}

/// <summary>Its pretrained encoder is also reachable as <c>adapter.inner</c>, registered first.</summary>
public sealed partial class SharedTrunk : nn.Module<Tensor, Tensor>
{
    private readonly Adapter adapter;

    [Pretrained]
    private readonly Encoder vae;

    public SharedTrunk() : base(nameof(SharedTrunk))
    {
        vae = StandInWeights.Create(() => new Encoder());
        adapter = new Adapter(vae);
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Vae => vae;

    public override Tensor forward(Tensor x) => adapter.forward(x);
}

/// <summary>The trainable head shares its weight with the frozen embedding.</summary>
public sealed partial class TiedHead : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Linear embed = StandInWeights.Create(() => nn.Linear(4, 4));

    private readonly Linear head = nn.Linear(4, 4);

    public TiedHead() : base(nameof(TiedHead))
    {
        head.weight = embed.weight;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => head.forward(embed.forward(x));
}

/// <summary>Two <see cref="ICheckpointable"/> children with sources of their own.</summary>
public sealed partial class Ensemble : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Linear adapter = StandInWeights.Create(() => nn.Linear(8, 8));

    private readonly Decoder decoder = new();
    private readonly Captioner captioner = new();

    public Ensemble() : base(nameof(Ensemble))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Decoder Decoder => decoder;

    public override Tensor forward(Tensor x) => captioner.forward(x) + decoder.forward(adapter.forward(x)).narrow(1, 0, 4);
}

/// <summary>Its encoder comes from a state dict written by PyTorch itself.</summary>
public sealed partial class PyTorchCaptioner : nn.Module<Tensor, Tensor>
{
    public const string Source = "PyTorch/encoder.pt";

    [Pretrained(Source)]
    private readonly Encoder encoder = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 2);

    public PyTorchCaptioner() : base(nameof(PyTorchCaptioner))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Encoder => encoder;

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}

/// <summary>Its encoder comes from a Hugging Face style sharded checkpoint.</summary>
public sealed partial class ShardedCaptioner : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/sharded/model.safetensors.index.json";

    [Pretrained(Source, KeyPrefix = "encoder.")]
    private readonly Encoder encoder = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 2);

    public ShardedCaptioner() : base(nameof(ShardedCaptioner))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Encoder => encoder;

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}

/// <summary>A generic model: its checkpoints name the closed type.</summary>
public sealed partial class Wrapper<TEncoder> : nn.Module<Tensor, Tensor> where TEncoder : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly TEncoder encoder;

    private readonly Linear head = nn.Linear(8, 2);

    public Wrapper(TEncoder encoder) : base("Wrapper")
    {
        this.encoder = encoder;
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}

/// <summary>A language-model head tied to a frozen embedding, the usual way: the head's weight is the embedding's.</summary>
public sealed partial class TiedLanguageModel : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Embedding embedding = StandInWeights.Create(() => nn.Embedding(10, 4));

    private readonly Linear lmHead = nn.Linear(4, 10, hasBias: false);

    public TiedLanguageModel() : base(nameof(TiedLanguageModel))
    {
        lmHead.weight = embedding.weight!;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => lmHead.forward(embedding.forward(x));
}

/// <summary>A trainable head large enough (2.4 MB) that loads stage it in blocks of their own.</summary>
public sealed partial class WideHead : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Encoder encoder = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 75_000);

    public WideHead() : base(nameof(WideHead))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Linear Head => head;

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}
