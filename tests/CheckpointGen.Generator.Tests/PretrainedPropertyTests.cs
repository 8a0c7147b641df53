using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace CheckpointGen.Generator.Tests;

/// <summary>
/// <c>[field: Pretrained]</c> on a property marks its backing field, which C# allows since the attribute targets fields:
/// the property is a pretrained member like a field, named in the generated facts by the property's name (the runtime
/// reads it through the property).
/// </summary>
public sealed class PretrainedPropertyTests
{
    private const string Usings = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        """;

    private static string Generated(string source)
    {
        var (result, output) = GeneratorHarness.Run(Usings + source);

        Assert.All(result.Results, r => Assert.Null(r.Exception));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        return result.GeneratedTrees.Single().GetText().ToString();
    }

    [Fact]
    public void An_auto_property_is_named_by_the_property_beside_a_field()
    {
        var generated = Generated("""
            public partial class Captioner : nn.Module<Tensor, Tensor>
            {
                [Pretrained("vae.safetensors")] private readonly Linear vae = nn.Linear(2, 2);
                [field: Pretrained("text.safetensors", KeyPrefix = "text.")] public Linear TextEncoder { get; } = nn.Linear(2, 2);
                private readonly Linear head = nn.Linear(2, 2);
                public Captioner() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => head.forward(vae.forward(x) + TextEncoder.forward(x));
            }
            """);

        Assert.Contains("PretrainedMember(\"vae\", \"vae.safetensors\")]", generated);
        Assert.Contains("PretrainedMember(\"TextEncoder\", \"text.safetensors\", \"text.\")]", generated);
        Assert.DoesNotContain("k__BackingField", generated);
    }

    [Fact]
    public void A_property_using_the_field_keyword_and_a_keyword_named_property_are_named_by_the_property()
    {
        var generated = Generated("""
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [field: Pretrained] public Linear Encoder { get => field; private set => field = value; }
                [field: Pretrained] public Linear @event { get; } = nn.Linear(2, 2);
                public Model() : base("m") { Encoder = nn.Linear(2, 2); RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => @event.forward(Encoder.forward(x));
            }
            """);

        Assert.Contains("PretrainedMember(\"Encoder\")]", generated);
        Assert.Contains("PretrainedMember(\"event\")]", generated);
    }

    [Theory]
    [InlineData("[field: Pretrained] public partial Linear? Encoder { get; }", "[field: System.NonSerialized] public partial Linear? Encoder { get => field; }")]
    [InlineData("[field: System.NonSerialized] public partial Linear? Encoder { get; }", "[field: Pretrained] public partial Linear? Encoder { get => field; }")]
    public void A_partial_property_is_one_member_when_both_parts_carry_field_attributes(string declaration, string implementation)
    {
        var generated = Generated($$"""
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                {{declaration}}
                {{implementation}}
                public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => x;
            }
            """);

        Assert.Single(System.Text.RegularExpressions.Regex.Matches(generated, @"PretrainedMember\(""Encoder"""));
    }

    [Fact]
    public void Another_field_targeted_attribute_does_not_make_a_pretrained_member()
    {
        var (result, _) = GeneratorHarness.Run(Usings + """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [field: System.NonSerialized] public Linear Encoder { get; } = nn.Linear(2, 2);
                public Model() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => Encoder.forward(x);
            }
            """);

        Assert.Empty(result.GeneratedTrees);
    }
}
