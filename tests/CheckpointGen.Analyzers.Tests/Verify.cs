using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using CheckpointGen.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>
/// Runs an analyzer (and a code fix) the way the IDE does: over a compilation of .NET 10, TorchSharp and the
/// CheckpointGen runtime, with the generator's output in it, since CKPT010 looks for generated members.
/// </summary>
internal static class Verify<TAnalyzer, TCodeFix>
    where TAnalyzer : DiagnosticAnalyzer, new()
    where TCodeFix : CodeFixProvider, new()
{
    public const string Usings = """
        using System.IO;
        using System.Linq;
        using CheckpointGen;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        """;

    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor, int location = 0)
        => new DiagnosticResult(descriptor).WithLocation(location);

    public static Task Analyzer(string source, params DiagnosticResult[] expected)
    {
        var test = new Test { TestCode = Usings + source };
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    /// <summary>Several files; a name ending in <c>.g.cs</c> marks generated code.</summary>
    public static Task Analyzer((string Name, string Source)[] files, params DiagnosticResult[] expected)
    {
        var test = new Test();
        foreach (var (name, source) in files)
        {
            test.TestState.Sources.Add((name, Usings + source));
        }
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    public static Task CodeFix(string source, string fixedSource, params DiagnosticResult[] expected)
        => CodeFix(source, fixedSource, fixedSource, expected);

    /// <summary>The diagnostics are reported but no code fix is offered for them.</summary>
    public static Task NoFix(string source, params DiagnosticResult[] expected)
        => CodeFix(source, source, expected);

    /// <summary>
    /// Applies the fix one diagnostic at a time and with Fix All (in the document, the project and the solution), compares
    /// each result, and builds both with the generator's output: a fix must leave code that compiles.
    /// Where one fix settles the diagnostics of its neighbours, Fix All still applies to every one.
    /// </summary>
    public static async Task CodeFix(string source, string fixedSource, string batchFixedSource, params DiagnosticResult[] expected)
    {
        var test = new Test { TestCode = Usings + source, FixedCode = Usings + fixedSource, BatchFixedCode = Usings + batchFixedSource };
        test.ExpectedDiagnostics.AddRange(expected);
        await test.RunAsync();
        AssertBuilds(fixedSource);
        AssertBuilds(batchFixedSource);
    }

    /// <summary>
    /// As <see cref="CodeFix(string, string, DiagnosticResult[])"/>, with the code referencing an assembly built (with the
    /// generator) from <paramref name="library"/>: its models are compiled elsewhere, as a package's are.
    /// </summary>
    public static async Task CodeFixWithLibrary(string library, string source, string fixedSource, params DiagnosticResult[] expected)
    {
        var (_, built) = UserCompilation.Generate("Library", OutputKind.DynamicallyLinkedLibrary, [CSharpSyntaxTree.ParseText(Usings + library, UserCompilation.ParseOptions, "Library.cs")]);
        using var image = new System.IO.MemoryStream();
        var emitted = built.Emit(image);
        Xunit.Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        var reference = MetadataReference.CreateFromImage(image.ToArray());

        var test = new Test { TestCode = Usings + source, FixedCode = Usings + fixedSource };
        test.TestState.AdditionalReferences.Add(reference);
        test.ExpectedDiagnostics.AddRange(expected);
        await test.RunAsync();
        AssertBuilds(fixedSource, reference);
    }

    /// <summary>Compiles the code as a build does, generator included, and fails on any compiler error.</summary>
    private static void AssertBuilds(string source, MetadataReference? library = null)
    {
        // Without the test's markup: {|#0:...|} around a diagnostic no fix removes.
        var code = System.Text.RegularExpressions.Regex.Replace(Usings + source, @"\{\|[^:|]*:|\|\}", "");
        var tree = CSharpSyntaxTree.ParseText(code, UserCompilation.ParseOptions, "Fixed.cs");
        var (_, output) = UserCompilation.Generate("Fixed", OutputKind.DynamicallyLinkedLibrary, [tree], library is null ? null : [library]);
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Xunit.Assert.True(errors.Length == 0, "The fixed code does not build:\n" + string.Join("\n", errors.Select(e => e.ToString())));
    }

    private sealed class Test : CSharpCodeFixTest<TAnalyzer, TCodeFix, DefaultVerifier>
    {
        public Test()
        {
            // Nothing to download: the framework comes from Basic.Reference.Assemblies.
            ReferenceAssemblies = new ReferenceAssemblies("net10.0");
            TestState.AdditionalReferences.AddRange(Net100.References.All);
            TestState.AdditionalReferences.Add(typeof(TorchSharp.torch).Assembly);
            TestState.AdditionalReferences.Add(typeof(PretrainedAttribute).Assembly);
            TestBehaviors |= TestBehaviors.SkipGeneratedSourcesCheck;
            SolutionTransforms.Add((solution, projectId) =>
            {
                var project = solution.GetProject(projectId)!;
                var options = ((CSharpCompilationOptions)project.CompilationOptions!)
                    .WithNullableContextOptions(NullableContextOptions.Enable)
                    // As the .NET SDK does: TorchSharp targets an older System.Runtime that unifies with this one.
                    .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress });
                return solution
                    .WithProjectCompilationOptions(projectId, options)
                    .WithProjectParseOptions(projectId, new CSharpParseOptions(LanguageVersion.Latest));
            });
        }

        protected override IEnumerable<Type> GetSourceGenerators() => [typeof(PretrainedGenerator)];
    }
}

/// <summary>For analyzers tested without a fix.</summary>
internal static class Verify<TAnalyzer>
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor, int location = 0)
        => Verify<TAnalyzer, EmptyCodeFixProvider>.Diagnostic(descriptor, location);

    public static Task Analyzer(string source, params DiagnosticResult[] expected)
        => Verify<TAnalyzer, EmptyCodeFixProvider>.Analyzer(source, expected);

    public static Task Analyzer((string Name, string Source)[] files, params DiagnosticResult[] expected)
        => Verify<TAnalyzer, EmptyCodeFixProvider>.Analyzer(files, expected);
}
