using System.Collections.Generic;
using Basic.Reference.Assemblies;
using CheckpointGen.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>A user's code as a build compiles it: .NET 10, TorchSharp and the CheckpointGen runtime, then the generator's output.</summary>
internal static class UserCompilation
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly MetadataReference[] References =
    [
        .. Net100.References.All,
        MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location),
        MetadataReference.CreateFromFile(typeof(PretrainedAttribute).Assembly.Location),
    ];

    /// <summary>Compiles the trees and runs the generator; returns what it generated and the compilation with it.</summary>
    /// <param name="references">Assemblies the code uses besides .NET, TorchSharp and CheckpointGen.</param>
    public static (GeneratorDriverRunResult Generated, Compilation Output) Generate(string assemblyName, OutputKind kind, IEnumerable<SyntaxTree> trees, IEnumerable<MetadataReference>? references = null)
    {
        var compilation = CSharpCompilation.Create(
            assemblyName,
            trees,
            [.. References, .. references ?? []],
            new CSharpCompilationOptions(kind, nullableContextOptions: NullableContextOptions.Enable)
                // As the .NET SDK does: TorchSharp targets an older System.Runtime that unifies with this one.
                .WithSpecificDiagnosticOptions([new("CS1701", ReportDiagnostic.Suppress), new("CS1702", ReportDiagnostic.Suppress)]));
        var driver = CSharpGeneratorDriver.Create([new PretrainedGenerator().AsSourceGenerator()], parseOptions: ParseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        return (driver.GetRunResult(), output);
    }
}
