using System.Linq;
using CheckpointGen.Testing;
using Microsoft.CodeAnalysis;
using Xunit;

namespace CheckpointGen.Generator.Tests;

/// <summary>Invalid uses are skipped: no crash, no generated code that fails to compile (the analyzers report them).</summary>
public sealed class InvalidDeclarationTests
{
    private const string Usings = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        """;

    [Theory]
    [InlineData("NotPartial", """
        public class NotPartial : nn.Module<Tensor, Tensor>
        {
            [Pretrained("w.safetensors")] private readonly Linear encoder = nn.Linear(2, 2);
            public NotPartial() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => encoder.forward(x);
        }
        """)]
    [InlineData("ContainerNotPartial", """
        public class Outer
        {
            public partial class Inner : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Inner() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
        }
        """)]
    [InlineData("FieldNotModule", """
        public partial class FieldNotModule : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Tensor weights = ones(2);
            public FieldNotModule() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => x * weights;
        }
        """)]
    [InlineData("StaticField", """
        public partial class StaticField : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private static readonly Linear Shared = nn.Linear(2, 2);
            public StaticField() : base("m") { }
            public override Tensor forward(Tensor x) => Shared.forward(x);
        }
        """)]
    [InlineData("NotAModule", """
        public partial class NotAModule
        {
            [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
        }
        """)]
    [InlineData("ConstField", """
        public partial class ConstField : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private const Linear? None = null;
            public ConstField() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => x;
        }
        """)]
    [InlineData("StaticProperty", """
        public partial class StaticProperty : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public static Linear Shared { get; } = nn.Linear(2, 2);
            public StaticProperty() : base("m") { }
            public override Tensor forward(Tensor x) => Shared.forward(x);
        }
        """)]
    [InlineData("PropertyWithoutGetter", """
        public partial class PropertyWithoutGetter : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public Linear Encoder { set => field = value; }
            public PropertyWithoutGetter() : base("m") { Encoder = nn.Linear(2, 2); RegisterComponents(); }
            public override Tensor forward(Tensor x) => x;
        }
        """)]
    [InlineData("FileLocalContainer", """
        file static partial class Models
        {
            public partial class Inner : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Inner() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
        }
        """)]
    public void Invalid_declaration_generates_nothing_and_adds_no_error(string name, string source)
    {
        var (result, output) = GeneratorHarness.Run(Usings + "\n" + source);

        Assert.Empty(result.GeneratedTrees);
        Assert.All(result.Results, r => Assert.Null(r.Exception));
        Assert.True(!output.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error), name);
    }

    [Fact]
    public void A_file_local_type_is_skipped_and_the_others_still_generate()
    {
        var (result, output) = GeneratorHarness.Run(Usings + """

            file partial class Hidden : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Hidden() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """, """
            namespace @event.models;

            public partial class Fine : TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>
            {
                [CheckpointGen.Pretrained] private readonly TorchSharp.Modules.Linear encoder = TorchSharp.torch.nn.Linear(2, 2);
                public Fine() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override TorchSharp.torch.Tensor forward(TorchSharp.torch.Tensor x) => encoder.forward(x);
            }
            """);

        Assert.Equal(["@event.models.Fine"], GeneratedModels.Names(result));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void A_type_deriving_from_a_model_with_pretrained_fields_is_skipped_without_hiding_warnings()
    {
        var (result, output) = GeneratorHarness.Run(Usings + """

            public partial class Base : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Base() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }

            public partial class Derived : Base
            {
                [Pretrained] private readonly Linear second = nn.Linear(2, 2);
            }
            """);

        Assert.Equal(["Base"], GeneratedModels.Names(result));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void A_valid_type_still_generates_beside_an_invalid_one()
    {
        var (result, output) = GeneratorHarness.Run(Usings + """

            public class Broken : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Broken() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }

            public partial class Fine : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Fine() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """);

        Assert.Equal(["Fine"], GeneratedModels.Names(result));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }
}
