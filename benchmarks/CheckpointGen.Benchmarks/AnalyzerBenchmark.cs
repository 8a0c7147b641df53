using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace CheckpointGen.Benchmarks;

/// <summary>
/// What the CheckpointGen analyzers cost a compilation, in process and in CPU time (wall time on a shared machine measures
/// the neighbours): the build benchmark's 500 model types compiled (diagnostics and emit) as the SDK compiles them, with
/// the SDK's own analyzers, with and without the generator and the CheckpointGen analyzers, alternately, median of N.
/// The share is the median, over the repetitions, of the difference the analyzers make to the compilation run just before
/// (paired, so that the neighbours' load, which changes from minute to minute, cancels out), with its range.
/// A variant without the SDK's analyzers shows what any analyzer costs alone: the driver then builds the semantic models
/// and operation trees for it, which a no-op analyzer pays as well.
/// </summary>
public static class AnalyzerBenchmark
{
    private const double Goal = 0.05;

    public static int Run(int types, int repetitions)
    {
        var bin = AppContext.BaseDirectory;
        var loader = new Loader();
        var generator = new AnalyzerFileReference(Path.Combine(bin, "CheckpointGen.Generator.dll"), loader).GetGenerators(LanguageNames.CSharp).Single();
        var ours = new AnalyzerFileReference(Path.Combine(bin, "CheckpointGen.Analyzers.dll"), loader).GetAnalyzers(LanguageNames.CSharp);
        var sdk = SdkAnalyzers(loader);
        if (sdk.IsEmpty)
        {
            Console.WriteLine("The .NET SDK's analyzers were not found beside this runtime: the variants with them are skipped.");
        }
        var references = Net100.References.All
            .Append(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location))
            .Append(MetadataReference.CreateFromFile(typeof(CheckpointPolicy).Assembly.Location))
            .ToArray();
        var sources = BuildBenchmark.Sources(types).ToArray();
        SyntaxTree[] Parse(bool frozen) => sources
            .Select(s => CSharpSyntaxTree.ParseText(s.Text, new CSharpParseOptions(LanguageVersion.Latest, preprocessorSymbols: frozen ? ["CHECKPOINTGEN"] : []), s.Name))
            .ToArray();
        var withCheckpointGen = Parse(frozen: true);
        var without = Parse(frozen: false);
        var options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, concurrentBuild: false)
            .WithSpecificDiagnosticOptions([new("CS1701", ReportDiagnostic.Suppress), new("CS1702", ReportDiagnostic.Suppress)]);

        var variants = new List<(string Name, bool Generator, ImmutableArray<DiagnosticAnalyzer> Analyzers)>();
        if (!sdk.IsEmpty)
        {
            variants.Add(("without CheckpointGen, SDK analyzers", false, sdk));
            variants.Add(("generator, SDK analyzers", true, sdk));
            variants.Add(("generator and analyzers, SDK analyzers", true, sdk.AddRange(ours)));
        }
        variants.Add(("generator, no analyzer", true, []));
        variants.Add(("generator and a no-op analyzer", true, [new NoOpAnalyzer()]));
        variants.Add(("generator and analyzers, alone", true, ours));

        var times = variants.ToDictionary(v => v.Name, _ => new List<double>());
        for (var repetition = 0; repetition <= repetitions; repetition++)
        {
            foreach (var (name, useGenerator, analyzers) in variants)
            {
                var milliseconds = CpuMilliseconds(() =>
                {
                    Compilation compilation = CSharpCompilation.Create("Models", useGenerator ? withCheckpointGen : without, references, options);
                    if (useGenerator)
                    {
                        CSharpGeneratorDriver.Create([generator], parseOptions: (CSharpParseOptions)withCheckpointGen[0].Options)
                            .RunGeneratorsAndUpdateCompilation(compilation, out compilation, out _);
                    }
                    var diagnostics = analyzers.IsEmpty
                        ? compilation.GetDiagnostics()
                        : compilation.WithAnalyzers(analyzers, new CompilationWithAnalyzersOptions(new AnalyzerOptions([]), null, concurrentAnalysis: false, logAnalyzerExecutionTime: false))
                            .GetAllDiagnosticsAsync().GetAwaiter().GetResult();
                    using var output = new MemoryStream();
                    var emitted = compilation.Emit(output);
                    if (!emitted.Success || diagnostics.Any(d => d.Id.StartsWith("CKPT", StringComparison.Ordinal)))
                    {
                        throw new InvalidOperationException($"{name}: the project does not compile cleanly:\n{string.Join("\n", emitted.Diagnostics.Concat(diagnostics).Take(10))}");
                    }
                });
                // The first round warms the JIT and the loaded analyzers up.
                if (repetition > 0)
                {
                    times[name].Add(milliseconds);
                }
            }
        }

        var median = times.ToDictionary(t => t.Key, t => Statistics.Median(t.Value));
        Console.WriteLine($"| compilation of {types} model types, in process (median CPU time of {repetitions}) | CPU time |");
        Console.WriteLine("| --- | ---: |");
        foreach (var (name, _, _) in variants)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {median[name] / 1000:F2} s |"));
        }
        if (sdk.IsEmpty)
        {
            return 0;
        }
        // Paired: each repetition runs the two variants back to back, so a change of load between repetitions cancels out.
        var withAnalyzers = times["generator and analyzers, SDK analyzers"];
        var withoutAnalyzers = times["generator, SDK analyzers"];
        var shares = withAnalyzers.Zip(withoutAnalyzers, (w, o) => (w - o) / w).Order().ToArray();
        var share = shares[shares.Length / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| goal: the CheckpointGen analyzers ≤ {Goal:P0} of the compilation's CPU time (median of the paired differences; range {shares[0]:P1} to {shares[^1]:P1}) | {share:P1} | {(share <= Goal ? "PASS" : "FAIL")} |"));
        return share <= Goal ? 0 : 1;
    }

    /// <summary>The analyzers every build of a .NET project runs (CA rules), from the SDK this runtime belongs to.</summary>
    private static ImmutableArray<DiagnosticAnalyzer> SdkAnalyzers(IAnalyzerAssemblyLoader loader)
    {
        var dotnet = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var folder = Directory.Exists(Path.Combine(dotnet, "sdk"))
            ? Directory.GetDirectories(Path.Combine(dotnet, "sdk")).Select(sdk => Path.Combine(sdk, "Sdks", "Microsoft.NET.Sdk", "analyzers")).Where(Directory.Exists).Order().LastOrDefault()
            : null;
        return folder is null
            ? []
            : new[] { "Microsoft.CodeAnalysis.NetAnalyzers.dll", "Microsoft.CodeAnalysis.CSharp.NetAnalyzers.dll" }
                .SelectMany(file => new AnalyzerFileReference(Path.Combine(folder, file), loader).GetAnalyzers(LanguageNames.CSharp))
                .ToImmutableArray();
    }

    private static double CpuMilliseconds(Action work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        work();
        process.Refresh();
        return (process.TotalProcessorTime - before).TotalMilliseconds;
    }

    private sealed class Loader : IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath)
        {
        }

        public Assembly LoadFromPath(string fullPath) => Assembly.LoadFrom(fullPath);
    }

    // A stand-in run in this process only, never shipped nor loaded by a compiler: the analyzer-author rules do not apply.
#pragma warning disable RS1001, RS1036, RS2008

    /// <summary>Asks the driver for what the CheckpointGen analyzers ask for (operations, constructor bodies, types) and does nothing with it.</summary>
    private sealed class NoOpAnalyzer : DiagnosticAnalyzer
    {
        private static readonly DiagnosticDescriptor Nothing = new("NOOP001", "Nothing", "Nothing", "Benchmark", DiagnosticSeverity.Warning, isEnabledByDefault: true);

        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => [Nothing];

        public override void Initialize(AnalysisContext context)
        {
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.EnableConcurrentExecution();
            context.RegisterCompilationStartAction(start =>
            {
                start.RegisterOperationAction(_ => { }, OperationKind.Invocation, OperationKind.Argument, OperationKind.SimpleAssignment, OperationKind.ConstructorBody);
                start.RegisterSymbolAction(_ => { }, SymbolKind.NamedType);
            });
        }
    }
#pragma warning restore RS1001, RS1036, RS2008
}
