using System;
using System.Linq;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.Modules;
using TorchSharp.Utils;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Parts;

/// <summary>
/// <see cref="ICheckpointable.CheckpointPolicy"/> is built from the facts the generator writes on the model type
/// (<see cref="PretrainedMemberAttribute"/>): each <c>[Pretrained]</c> member by its name, fields and properties alike,
/// read as the model holds it at that moment. A type without those facts gets a message that names the likely cause.
/// </summary>
public sealed class GeneratedFactsTests
{
    [Fact]
    public void Properties_marked_on_their_backing_field_are_pretrained_members_like_a_field()
    {
        using var model = new PropertyMembers();

        // Prefixes are the names the modules are registered under: RegisterComponents names a property's module by its
        // backing field, unless [field: ComponentName] names it.
        Assert.Equal(["<Encoder>k__BackingField.", "<Vae>k__BackingField.", "<event>k__BackingField.", "text.", "vae."], model.PretrainedPrefixes.Order(StringComparer.Ordinal));
        Assert.All(new[] { model.Vae, model.Encoder, model.@event, model.Text, model.VaeField }, part =>
        {
            Assert.All(part.parameters(), p => Assert.False(p.requires_grad));
            Assert.False(part.training);
        });
        Assert.Equal(["head.bias", "head.weight"], model.TrainableStateDict().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_facts_come_back_in_the_order_the_generator_wrote_them()
    {
        var facts = typeof(PropertyMembers).GetCustomAttributes(typeof(PretrainedMemberAttribute), inherit: false).Cast<PretrainedMemberAttribute>();

        // The generator lists fields first, then properties, each in declaration order; the policy keeps that order.
        Assert.Equal(["vae", "Vae", "Encoder", "event", "Text"], facts.Select(f => f.Name));
    }

    [Fact]
    public void A_model_written_by_hand_without_a_policy_is_told_what_is_missing()
    {
        using var model = new WithoutFacts();

        var error = Assert.Throws<InvalidOperationException>(() => model.TrainableStateDict());

        Assert.Contains($"'{typeof(WithoutFacts).FullName!.Replace('+', '.')}' implements ICheckpointable, but neither it nor a type it derives from has the facts", error.Message);
        Assert.Contains("implement ICheckpointable.CheckpointPolicy", error.Message);
    }

    [Fact]
    public void A_model_written_by_hand_with_its_own_policy_uses_it()
    {
        using var model = new WithOwnPolicy();

        Assert.Equal(["vae."], model.PretrainedPrefixes);
        Assert.Equal(["head.bias", "head.weight"], model.TrainableStateDict().Keys.Order(StringComparer.Ordinal));
    }

    /// <summary>What CKPT006 reports where the analyzers run (this project runs only the generator).</summary>
    private sealed class WithoutFacts : nn.Module<Tensor, Tensor>, ICheckpointable
    {
        public WithoutFacts() : base(nameof(WithoutFacts))
        {
        }

        public override Tensor forward(Tensor x) => x.alias();
    }

    private sealed class WithOwnPolicy : nn.Module<Tensor, Tensor>, ICheckpointable
    {
        private readonly Encoder vae = new();
        private readonly Linear head = nn.Linear(8, 4);

        public WithOwnPolicy() : base(nameof(WithOwnPolicy)) => RegisterComponents();

        CheckpointPolicy ICheckpointable.CheckpointPolicy => new(this, new PretrainedField(nameof(vae), vae));

        public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
    }
}

/// <summary>
/// Pretrained members of every kind: an auto-property, a property using <c>field</c>, a keyword-named one, one registered
/// under a name of its own, and a field.
/// </summary>
public sealed partial class PropertyMembers : nn.Module<Tensor, Tensor>
{
    [field: Pretrained]
    public Encoder Vae { get; } = new();

    [field: Pretrained]
    public Encoder Encoder { get => field; private set => field = value; }

    [field: Pretrained]
    public Encoder @event { get; } = new();

    [field: Pretrained]
    [field: ComponentName(Name = "text")]
    public Encoder Text { get; } = new();

    [Pretrained]
    private readonly Encoder vae = new();

    private readonly Linear head = nn.Linear(8, 4);

    public PropertyMembers() : base(nameof(PropertyMembers))
    {
        Encoder = new Encoder();
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder VaeField => vae;

    public override Tensor forward(Tensor x)
    {
        using var a = Vae.forward(x);
        using var b = Encoder.forward(x);
        using var c = @event.forward(x);
        using var d = vae.forward(x);
        using var e = Text.forward(x);
        using var partial = a + b + c;
        using var sum = partial + e;
        return head.forward(sum + d);
    }
}
