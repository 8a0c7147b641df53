using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>The sample is the product's showcase: with the generator and every analyzer, it compiles with no CKPT diagnostic and no warning.</summary>
public sealed class SampleTests
{
    private static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers =
    [
        new PretrainedDeclarationAnalyzer(), new FreezeInConstructorAnalyzer(), new RequiresGradAnalyzer(),
        new PretrainedOptimizerAnalyzer(), new StrictLoadAnalyzer(), new FullSaveAnalyzer(), new AdapterDeclarationAnalyzer(),
    ];

    [Fact]
    public async Task Sample_has_no_CKPT_diagnostic()
    {
        var folder = Path.Combine(RepositoryRoot(), "samples", "Captioner");
        var (_, generated) = UserCompilation.Generate(
            "Captioner",
            OutputKind.ConsoleApplication,
            Directory.GetFiles(folder, "*.cs").Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), UserCompilation.ParseOptions, f)));

        var diagnostics = await generated.WithAnalyzers(Analyzers).GetAllDiagnosticsAsync();

        Assert.Empty(diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(generated.SyntaxTrees, t => t.FilePath.EndsWith("Captioner.g.cs"));
    }

    [Fact]
    public async Task LoRA_sample_has_no_CKPT_diagnostic()
    {
        var folder = Path.Combine(RepositoryRoot(), "samples", "LoraFineTune");
        var (_, generated) = UserCompilation.Generate(
            "LoraFineTune",
            OutputKind.ConsoleApplication,
            Directory.GetFiles(folder, "*.cs").Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), UserCompilation.ParseOptions, f)),
            [MetadataReference.CreateFromFile(typeof(TorchSharp.PyBridge.PyBridgeModuleExtensions).Assembly.Location)]);

        var diagnostics = await generated.WithAnalyzers(Analyzers).GetAllDiagnosticsAsync();

        Assert.Empty(diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(generated.SyntaxTrees, t => t.FilePath.EndsWith("SequenceClassifier.g.cs"));
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));
}
