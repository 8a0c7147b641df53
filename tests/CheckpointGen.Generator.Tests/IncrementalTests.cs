using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using CheckpointGen.Generator.Models;
using CheckpointGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace CheckpointGen.Generator.Tests;

/// <summary>The pipeline caches: edits elsewhere cost nothing, and a change to one model regenerates that model only.</summary>
public sealed class IncrementalTests
{
    private const string First = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        public partial class First : nn.Module<Tensor, Tensor>
        {
            [Pretrained("first.safetensors")] private readonly Linear encoder = nn.Linear(2, 2);
            [field: Pretrained] public Linear Decoder { get; } = nn.Linear(2, 2);
            public First() : base("f") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => Decoder.forward(encoder.forward(x));
        }
        """;

    private const string Second = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        public partial class Second : nn.Module<Tensor, Tensor>
        {
            [Pretrained("second.safetensors")] private readonly Linear encoder = nn.Linear(2, 2);
            public Second() : base("s") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => encoder.forward(x);
        }
        """;

    private const string Unrelated = """
        public static class Helpers
        {
            public static int Twice(int x) => 2 * x;
        }
        """;

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        var compilation = GeneratorHarness.Compile(First, Second, Unrelated);
        return (GeneratorHarness.CreateDriver().RunGenerators(compilation), compilation);
    }

    private static CSharpCompilation Replace(CSharpCompilation compilation, int tree, string source)
        => compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.ElementAt(tree), CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions));

    private static IncrementalStepRunReason[] Reasons(GeneratorDriverRunResult result, string step)
        => result.Results.Single().TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToArray();

    [Fact]
    public void An_edit_outside_the_models_leaves_every_step_cached()
    {
        var (driver, compilation) = FirstRun();

        var result = driver.RunGenerators(Replace(compilation, 2, Unrelated.Replace("2 * x", "x + x"))).GetRunResult();

        Assert.All(Reasons(result, PretrainedGenerator.TrackingNames.Fields), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(Reasons(result, PretrainedGenerator.TrackingNames.Properties), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(Reasons(result, PretrainedGenerator.TrackingNames.Calls), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(Reasons(result, PretrainedGenerator.TrackingNames.Types), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(result.Results.Single().TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void An_edit_inside_a_model_that_changes_no_fact_regenerates_nothing()
    {
        var (driver, compilation) = FirstRun();

        var result = driver.RunGenerators(Replace(compilation, 0, First.Replace("encoder.forward(x)", "encoder.forward(x * 1)"))).GetRunResult();

        Assert.DoesNotContain(IncrementalStepRunReason.Modified, Reasons(result, PretrainedGenerator.TrackingNames.Types));
        Assert.All(result.Results.Single().TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Changing_one_model_recomputes_that_model_only()
    {
        var (driver, compilation) = FirstRun();

        var result = driver.RunGenerators(Replace(compilation, 0, First.Replace("first.safetensors", "renamed.safetensors"))).GetRunResult();

        var types = Reasons(result, PretrainedGenerator.TrackingNames.Types);
        Assert.Equal(1, types.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, types.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        var outputs = result.Results.Single().TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).ToArray();
        Assert.Equal(1, outputs.Count(o => o.Reason == IncrementalStepRunReason.Modified));
        Assert.Contains("renamed.safetensors", GeneratedModels.Text(result, "First"));
    }

    [Fact]
    public void A_call_added_in_another_file_regenerates_the_model_it_is_for_only()
    {
        var (driver, compilation) = FirstRun();

        var result = driver.RunGenerators(Replace(compilation, 2, Unrelated + """
            public partial class Second
            {
                public System.Collections.Generic.IEnumerable<TorchSharp.Modules.Parameter> Trainable() => TrainableParameters();
            }
            """)).GetRunResult();

        var types = Reasons(result, PretrainedGenerator.TrackingNames.Types);
        Assert.Equal(1, types.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, types.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        var outputs = result.Results.Single().TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).ToArray();
        Assert.Equal(1, outputs.Count(o => o.Reason == IncrementalStepRunReason.Modified));
        Assert.Contains("TrainableParameters()", GeneratedModels.Text(result, "Second"));
        Assert.DoesNotContain("TrainableParameters()", GeneratedModels.Text(result, "First"));
    }

    [Fact]
    public void The_pipeline_models_hold_no_symbols_syntax_or_compilations()
    {
        var (driver, _) = FirstRun();
        var result = driver.GetRunResult().Results.Single();

        var values = result.TrackedSteps
            .Where(s => s.Key is PretrainedGenerator.TrackingNames.Fields or PretrainedGenerator.TrackingNames.Properties or PretrainedGenerator.TrackingNames.Calls or PretrainedGenerator.TrackingNames.Types)
            .SelectMany(s => s.Value)
            .SelectMany(s => s.Outputs)
            .Select(o => o.Value)
            .ToArray();

        Assert.NotEmpty(values);
        Assert.NotEmpty(result.TrackedSteps[PretrainedGenerator.TrackingNames.Properties].SelectMany(s => s.Outputs));
        Assert.NotEmpty(result.TrackedSteps[PretrainedGenerator.TrackingNames.Calls].SelectMany(s => s.Outputs));
        foreach (var value in values)
        {
            AssertPlainData(value, new HashSet<object>(ReferenceEqualityComparer.Instance), path: value.GetType().Name);
        }
    }

    [Fact]
    public void A_compilation_that_gains_the_runtime_reference_gets_its_members()
    {
        // The declaration rules are looked up once per compilation: the first compilation's answer (no CheckpointGen, so no
        // rules) must not be the next one's.
        var withRuntime = GeneratorHarness.Compile(First, Second, Unrelated);
        var withoutRuntime = withRuntime.RemoveReferences(withRuntime.References.Where(r => r.Display?.EndsWith("CheckpointGen.dll", StringComparison.Ordinal) == true));
        var driver = GeneratorHarness.CreateDriver();

        driver = driver.RunGenerators(withoutRuntime);
        Assert.Empty(driver.GetRunResult().GeneratedTrees);

        driver = driver.RunGenerators(withRuntime);
        Assert.Equal(["First", "Second"], GeneratedModels.Names(driver.GetRunResult()));
    }

    /// <summary>Walks every field of the object graph: only strings, primitives, enums and containers of them may appear.</summary>
    private static void AssertPlainData(object? value, HashSet<object> seen, string path)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum)
        {
            return;
        }
        Assert.False(value is ISymbol or SyntaxNode or SyntaxTree or Compilation or SemanticModel or Location, $"{path} is a {value.GetType().Name}");
        if (!value.GetType().IsValueType && !seen.Add(value))
        {
            return;
        }
        if (value is IEnumerable items)
        {
            var i = 0;
            foreach (var item in items)
            {
                AssertPlainData(item, seen, $"{path}[{i++}]");
            }
        }
        foreach (var field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            AssertPlainData(field.GetValue(value), seen, $"{path}.{field.Name}");
        }
        Assert.True(value.GetType().Namespace == typeof(ModelType).Namespace || value is IEnumerable, $"{path} is a {value.GetType().FullName}, not a pipeline model type");
    }
}
