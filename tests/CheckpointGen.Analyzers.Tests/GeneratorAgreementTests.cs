using System.Linq;
using System.Threading.Tasks;
using CheckpointGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>
/// The generator skips a declaration exactly when the declaration analyzer reports it: run both, as a build does, over
/// every kind of declaration, so that a rule added to one side only, or a silent skip, fails here.
/// </summary>
public sealed class GeneratorAgreementTests
{
    private const string Usings = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        """;

    /// <summary>The model type, the declaration, and the error that must explain a skip (none: the type gets generated members).</summary>
    public static TheoryData<string, string, string?> Declarations => new()
    {
        { "Valid", """
            public partial class Valid : nn.Module<Tensor, Tensor>
            {
                [Pretrained("w.safetensors")] private readonly Linear encoder = nn.Linear(2, 2);
                public Valid() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """, null },
        { "Adapter", """
            public partial class Adapter<TEncoder> : nn.Module<Tensor, Tensor> where TEncoder : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly TEncoder encoder;
                public Adapter(TEncoder encoder) : base("m") { this.encoder = encoder; RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """, null },
        { "Outer.Inner", """
            public static partial class Outer
            {
                private sealed partial class Inner : nn.Module<Tensor, Tensor>
                {
                    [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                    public Inner() : base("m") { RegisterComponents(); FreezePretrained(); }
                    public override Tensor forward(Tensor x) => encoder.forward(x);
                }
            }
            """, null },
        { "Captioner", """
            public partial class Captioner : nn.Module<Tensor, Tensor>
            {
                [field: Pretrained("w.safetensors")] public Linear Encoder { get; } = nn.Linear(2, 2);
                public Captioner() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => Encoder.forward(x);
            }
            """, null },
        { "NotPartial", """
            public class NotPartial : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public NotPartial() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """, "CKPT001" },
        { "Outer.Inner", """
            public class Outer
            {
                public partial class Inner : nn.Module<Tensor, Tensor>
                {
                    [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                    public Inner() : base("m") { RegisterComponents(); }
                    public override Tensor forward(Tensor x) => encoder.forward(x);
                }
            }
            """, "CKPT001" },
        { "Holder", """
            public partial class Holder
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
            }
            """, "CKPT002" },
        { "Holder", """
            public partial struct Holder
            {
                [Pretrained] private readonly Linear encoder;
                public Holder() { encoder = nn.Linear(2, 2); }
            }
            """, "CKPT002" },
        { "Holder", """
            public partial record struct Holder([field: Pretrained] Linear Encoder);
            """, "CKPT002" },
        { "IHolder", """
            public partial interface IHolder
            {
                [Pretrained] static readonly Linear Shared = nn.Linear(2, 2);
            }
            """, "CKPT002" },
        { "Model", """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Tensor scale = ones(2);
                public Model() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => x * scale;
            }
            """, "CKPT003" },
        { "Model", """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private static readonly Linear Shared = nn.Linear(2, 2);
                public Model() : base("m") { }
                public override Tensor forward(Tensor x) => Shared.forward(x);
            }
            """, "CKPT003" },
        { "Model", """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private const Linear? None = null;
                public Model() : base("m") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "CKPT003" },
        { "Model", """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [field: Pretrained] public event System.Action? Changed;
                public Model() : base("m") { Changed?.Invoke(); }
                public override Tensor forward(Tensor x) => x;
            }
            """, "CKPT003" },
        { "Model", """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [field: Pretrained] public static Linear Shared { get; } = nn.Linear(2, 2);
                public Model() : base("m") { }
                public override Tensor forward(Tensor x) => Shared.forward(x);
            }
            """, "CKPT003" },
        { "Model", """
            public partial class Model : nn.Module<Tensor, Tensor>
            {
                [field: Pretrained] public Linear Encoder { set => field = value; }
                public Model() : base("m") { Encoder = nn.Linear(2, 2); RegisterComponents(); }
                public override Tensor forward(Tensor x) => x;
            }
            """, "CKPT003" },
        { "Tag", """
            public enum Tag { [Pretrained] First }
            """, "CKPT003" },
        { "Derived", """
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
            """, "CKPT004" },
        { "Hidden", """
            file partial class Hidden : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Hidden() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """, "CKPT005" },
        { "Models.Inner", """
            file static partial class Models
            {
                public partial class Inner : nn.Module<Tensor, Tensor>
                {
                    [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                    public Inner() : base("m") { RegisterComponents(); }
                    public override Tensor forward(Tensor x) => encoder.forward(x);
                }
            }
            """, "CKPT005" },
    };

    [Theory]
    [MemberData(nameof(Declarations))]
    public async Task The_generator_skips_a_declaration_exactly_when_the_analyzer_reports_it(string modelType, string source, string? error)
    {
        var (result, output) = UserCompilation.Generate("UserModels", OutputKind.DynamicallyLinkedLibrary, [CSharpSyntaxTree.ParseText(Usings + source, UserCompilation.ParseOptions)]);
        var generated = GeneratedModels.Names(result);

        var reported = await output
            .WithAnalyzers([new PretrainedDeclarationAnalyzer()])
            .GetAnalyzerDiagnosticsAsync();

        Assert.All(result.Results, r => Assert.Null(r.Exception));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        if (error is null)
        {
            Assert.Contains(modelType, generated);
            Assert.Empty(reported);
        }
        else
        {
            Assert.DoesNotContain(modelType, generated);
            Assert.Contains(reported, d => d.Id == error && d.Severity == DiagnosticSeverity.Error);
        }
    }

    [Fact]
    public void Every_declaration_rule_has_a_case_here()
    {
        var covered = Declarations.Select(row => (string?)row[2]).OfType<string>().ToHashSet();
        var declarationRules = new PretrainedDeclarationAnalyzer().SupportedDiagnostics.Select(d => d.Id);

        Assert.Equal(declarationRules.Order(), covered.Order());
    }
}
