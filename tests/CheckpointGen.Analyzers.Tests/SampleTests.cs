using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using CheckpointGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>The samples are the product's showcase: with the generator and every analyzer, each compiles with no CKPT diagnostic and no warning.</summary>
public sealed class SampleTests
{
    private static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers =
    [
        new PretrainedDeclarationAnalyzer(), new FreezeInConstructorAnalyzer(), new RequiresGradAnalyzer(),
        new PretrainedOptimizerAnalyzer(), new StrictLoadAnalyzer(), new FullSaveAnalyzer(), new AdapterDeclarationAnalyzer(),
    ];

    /// <summary>Each sample, with the model type that must get generated members.</summary>
    [Theory]
    [InlineData("Captioner", "CheckpointGen.Samples.Captioner")]
    [InlineData("LoraFineTune", "CheckpointGen.Samples.Lora.SequenceClassifier")]
    public async Task Sample_has_no_CKPT_diagnostic(string sample, string model)
    {
        var folder = Path.Combine(RepositoryRoot(), "samples", sample);
        var (run, generated) = UserCompilation.Generate(
            sample,
            OutputKind.ConsoleApplication,
            Directory.GetFiles(folder, "*.cs").Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), UserCompilation.ParseOptions, f)),
            // The LoRA sample writes its stand-in backbone with PyBridge's save_safetensors.
            [MetadataReference.CreateFromFile(typeof(TorchSharp.PyBridge.PyBridgeModuleExtensions).Assembly.Location)]);

        var diagnostics = await generated.WithAnalyzers(Analyzers).GetAllDiagnosticsAsync();

        Assert.Empty(diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(model, GeneratedModels.Names(run));
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));
}
