using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using CheckpointGen.Generator;
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
        new PretrainedOptimizerAnalyzer(), new StrictLoadAnalyzer(), new FullSaveAnalyzer(),
    ];

    [Fact]
    public async Task Sample_has_no_CKPT_diagnostic()
    {
        var folder = Path.Combine(RepositoryRoot(), "samples", "Captioner");
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create(
            "Captioner",
            Directory.GetFiles(folder, "*.cs").Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, f)),
            [.. Net100.References.All, MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location), MetadataReference.CreateFromFile(typeof(PretrainedAttribute).Assembly.Location)],
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable)
                .WithSpecificDiagnosticOptions([new("CS1701", ReportDiagnostic.Suppress), new("CS1702", ReportDiagnostic.Suppress)]));
        CSharpGeneratorDriver.Create([new PretrainedGenerator().AsSourceGenerator()], parseOptions: parse)
            .RunGeneratorsAndUpdateCompilation(compilation, out var generated, out _);

        var diagnostics = await generated.WithAnalyzers(Analyzers).GetAllDiagnosticsAsync();

        Assert.Empty(diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(generated.SyntaxTrees, t => t.FilePath.EndsWith("Captioner.g.cs"));
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));
}
