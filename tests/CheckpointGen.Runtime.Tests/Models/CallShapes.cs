using System.Collections.Generic;
using CheckpointGen.Reliability;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Models;

// The generator writes FreezePretrained(), TrainableParameters() and LoadPretrained() into a model type only where code
// calls them without 'this.'; everywhere else 'model.FreezePretrained()' is the runtime's extension method. These models
// are the two cases, and the same two for a type deriving from the model.

/// <summary>Calls nothing unqualified: none of the three methods is generated into it.</summary>
public sealed partial class QualifiedCaptioner : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/qualified-captioner-vae.safetensors";

    [Pretrained(Source)]
    private readonly Encoder vae = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 4);

    public QualifiedCaptioner() : base(nameof(QualifiedCaptioner))
    {
        RegisterComponents();
        this.FreezePretrained();
    }

    public Encoder Vae => vae;

    public Linear Head => head;

    public IEnumerable<Parameter> Trainable() => this.TrainableParameters();

    public void Load() => this.LoadPretrained();

    public override Tensor forward(Tensor x)
    {
        using var features = vae.forward(x);
        return head.forward(features);
    }
}

/// <summary>Calls all three unqualified: each is generated into it.</summary>
public sealed partial class UnqualifiedCaptioner : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/unqualified-captioner-vae.safetensors";

    [Pretrained(Source)]
    private readonly Encoder vae = StandInWeights.Create(() => new Encoder());

    private readonly Linear head = nn.Linear(8, 4);

    public UnqualifiedCaptioner() : base(nameof(UnqualifiedCaptioner))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Vae => vae;

    public Linear Head => head;

    public IEnumerable<Parameter> Trainable() => TrainableParameters();

    public void Load() => LoadPretrained();

    public override Tensor forward(Tensor x)
    {
        using var features = vae.forward(x);
        return head.forward(features);
    }
}

/// <summary>A model whose pretrained part a deriving type completes; nothing calls its methods unqualified.</summary>
public abstract partial class QualifiedBackbone : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    protected readonly Encoder vae = StandInWeights.Create(() => new Encoder());

    protected QualifiedBackbone(string name) : base(name)
    {
    }

    public Encoder Vae => vae;
}

/// <summary>Freezes with <c>this.FreezePretrained()</c>: the extension method, since its base has no such member.</summary>
public sealed class QualifiedFineTuned : QualifiedBackbone
{
    private readonly Linear head = nn.Linear(8, 4);

    public QualifiedFineTuned() : base(nameof(QualifiedFineTuned))
    {
        RegisterComponents();
        this.FreezePretrained();
    }

    public Linear Head => head;

    public IEnumerable<Parameter> Trainable() => this.TrainableParameters();

    public override Tensor forward(Tensor x)
    {
        using var features = vae.forward(x);
        return head.forward(features);
    }
}

/// <summary>As <see cref="QualifiedBackbone"/>, for a deriving type that calls the methods unqualified.</summary>
public abstract partial class UnqualifiedBackbone : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    protected readonly Encoder vae = StandInWeights.Create(() => new Encoder());

    protected UnqualifiedBackbone(string name) : base(name)
    {
    }

    public Encoder Vae => vae;
}

/// <summary>Freezes with <c>FreezePretrained()</c> unqualified: the generator writes the member into its base, the model.</summary>
public sealed class UnqualifiedFineTuned : UnqualifiedBackbone
{
    private readonly Linear head = nn.Linear(8, 4);

    public UnqualifiedFineTuned() : base(nameof(UnqualifiedFineTuned))
    {
        RegisterComponents();
        FreezePretrained();
    }

    public Linear Head => head;

    public IEnumerable<Parameter> Trainable() => TrainableParameters();

    public override Tensor forward(Tensor x)
    {
        using var features = vae.forward(x);
        return head.forward(features);
    }
}
