using System.IO;
using System.Linq;
using CheckpointGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace CheckpointGen.Generator.Tests;

/// <summary>The generated file of each case matches its checked-in snapshot and compiles without a warning.</summary>
public sealed class GeneratedSourceTests
{
    [Theory]
    [InlineData("OnePretrainedField")]
    [InlineData("TwoPretrainedFields")]
    [InlineData("ComponentNameField")]
    [InlineData("NestedType")]
    [InlineData("GenericModule")]
    [InlineData("OverridesTrain")]
    [InlineData("CheckpointableChild")]
    public void Generated_code_matches_snapshot_and_compiles_cleanly(string name)
    {
        var (result, output) = GeneratorHarness.Run(Snapshots.ReadCase(name));

        Assert.Empty(result.Diagnostics);
        Assert.All(result.Results, r => Assert.Null(r.Exception));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));

        var generated = result.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.GetText().ToString());
        Assert.NotEmpty(generated);
        var folder = Snapshots.Folder(name);
        if (Snapshots.Updating)
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
            Directory.CreateDirectory(folder);
            foreach (var (file, text) in generated)
            {
                File.WriteAllText(Path.Combine(folder, file), text);
            }
        }
        var expected = Directory.GetFiles(folder).ToDictionary(f => Path.GetFileName(f), File.ReadAllText);
        Assert.Equal(expected.Keys.Order(), generated.Keys.Order());
        foreach (var (file, text) in expected)
        {
            Assert.Equal(text, generated[file]);
        }
    }

    [Fact]
    public void Overriding_train_is_left_to_the_user_who_already_does()
    {
        var (result, _) = GeneratorHarness.Run(Snapshots.ReadCase("OverridesTrain"));

        Assert.DoesNotContain("override void train", result.GeneratedTrees.Single().GetText().ToString());
    }

    [Theory]
    [InlineData(LanguageVersion.CSharp12, true)]
    [InlineData(LanguageVersion.CSharp13, true)]
    [InlineData(LanguageVersion.CSharp14, false)]
    [InlineData(LanguageVersion.Preview, false)]
    public void PretrainedPrefixes_is_written_only_where_no_extension_property_can_serve(LanguageVersion version, bool written)
    {
        // As for the runtime's extension methods (model.SaveCheckpoint), the caller imports the namespace.
        const string caller = """
            using CheckpointGen;

            public static class Caller
            {
                public static System.Collections.Generic.IReadOnlyList<string> Prefixes(Samples.Captioner model) => model.PretrainedPrefixes;
            }
            """;
        var (result, output) = GeneratorHarness.Run(new CSharpParseOptions(version), Snapshots.ReadCase("OnePretrainedField"), caller);

        Assert.Equal(written, result.GeneratedTrees.Single().GetText().ToString().Contains("PretrainedPrefixes =>", System.StringComparison.Ordinal));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void The_file_of_a_one_field_model_that_freezes_stays_within_eight_lines_of_code()
    {
        var (result, _) = GeneratorHarness.Run(Snapshots.ReadCase("OnePretrainedField"));

        var code = result.GeneratedTrees.Single().GetText().Lines.Select(l => l.ToString().Trim())
            .Where(l => l.Length > 0 && !l.StartsWith("//", System.StringComparison.Ordinal) && l is not "{" and not "}")
            .ToList();
        // #nullable, namespace, the facts (one attribute), class, FreezePretrained (the constructor calls it) and the train
        // override (three lines): every member body one call into the runtime. Before C# 14, PretrainedPrefixes makes nine.
        Assert.InRange(code.Count, 1, 8);
        Assert.DoesNotContain(code, l => l.Contains("CheckpointPolicy.Of(", System.StringComparison.Ordinal));
    }

    [Fact]
    public void All_model_types_share_one_file_each_namespace_written_once_in_an_order_of_their_own()
    {
        const string others = """
            using CheckpointGen;
            using TorchSharp.Modules;
            using static TorchSharp.torch;

            namespace Other
            {
                public partial class Zeta : nn.Module<Tensor, Tensor>
                {
                    [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                    public Zeta() : base("z") { RegisterComponents(); }
                    public override Tensor forward(Tensor x) => encoder.forward(x);
                }
            }

            public partial class Global : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear encoder = nn.Linear(2, 2);
                public Global() : base("g") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => encoder.forward(x);
            }
            """;
        var samples = Snapshots.ReadCase("CheckpointableChild");
        var (result, output) = GeneratorHarness.Run(samples, others);
        var (reversed, _) = GeneratorHarness.Run(others, samples);

        var file = Assert.Single(result.GeneratedTrees);
        Assert.Equal("PretrainedModels.g.cs", Path.GetFileName(file.FilePath));
        Assert.Equal(["Global", "Other.Zeta", "Samples.Decoder", "Samples.Pipeline"], GeneratedModels.Names(result));
        Assert.Equal(["Other", "Samples"], file.GetRoot().DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>().Select(n => n.Name.ToString()));
        Assert.Equal(file.GetText().ToString(), Assert.Single(reversed.GeneratedTrees).GetText().ToString());
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }
}
