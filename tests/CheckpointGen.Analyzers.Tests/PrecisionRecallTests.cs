using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>
/// The analyzers on realistic code (<see cref="Snippets"/>), as a build runs them: with the generator, every analyzer at
/// once. Each expected diagnostic found is a true positive, each one missing a false negative, each unexpected one a false
/// positive. The figures are printed; the goal is precision ≥ 0.95 and recall ≥ 0.90, with every known-gap snippet right.
/// </summary>
public sealed partial class PrecisionRecallTests(ITestOutputHelper output)
{
    private const double PrecisionGoal = 0.95;
    private const double RecallGoal = 0.90;

    private static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers =
    [
        new PretrainedDeclarationAnalyzer(), new FreezeInConstructorAnalyzer(), new RequiresGradAnalyzer(),
        new PretrainedOptimizerAnalyzer(), new StrictLoadAnalyzer(), new FullSaveAnalyzer(),
    ];

    [GeneratedRegex(@"// expect: (?<id>CKPT\d{3})")]
    private static partial Regex Expectation();

    [Fact]
    public async Task Precision_and_recall_reach_the_goal_on_realistic_snippets()
    {
        var results = await Task.WhenAll(Snippets.All.Select(s => Run(s.Name, s.KnownGap, s.Code)));

        var truePositives = results.Sum(r => r.Expected.Intersect(r.Actual).Count());
        var falseNegatives = results.Sum(r => r.Expected.Except(r.Actual).Count());
        var falsePositives = results.Sum(r => r.Actual.Except(r.Expected).Count());
        var precision = (double)truePositives / (truePositives + falsePositives);
        var recall = (double)truePositives / (truePositives + falseNegatives);
        foreach (var result in results)
        {
            var missed = result.Expected.Except(result.Actual).Select(e => "missed " + e);
            var wrong = result.Actual.Except(result.Expected).Select(e => "unexpected " + e);
            var problems = string.Join("; ", missed.Concat(wrong));
            output.WriteLine($"{(problems.Length == 0 ? "ok  " : "FAIL")} {result.Name}{(problems.Length == 0 ? "" : ": " + problems)}");
        }
        var misuse = results.Count(r => r.Expected.Length > 0);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{results.Length} snippets ({misuse} misuse, {results.Length - misuse} correct code): {truePositives} true positives, {falsePositives} false positives, {falseNegatives} false negatives; precision {precision:F3}, recall {recall:F3}"));

        Assert.All(results, r => Assert.True(r.Errors.Length == 0, $"{r.Name} does not compile: {string.Join("; ", r.Errors)}"));
        Assert.True(results.Length >= 60 && misuse >= 20 && results.Length - misuse >= 20, "the suite holds at least 60 snippets of both kinds");
        Assert.All(results.Where(r => r.KnownGap), r => Assert.True(r.Expected.SequenceEqual(r.Actual), $"{r.Name}: expected [{string.Join(", ", r.Expected)}], got [{string.Join(", ", r.Actual)}]"));
        Assert.True(precision >= PrecisionGoal, $"precision {precision:F3} < {PrecisionGoal}");
        Assert.True(recall >= RecallGoal, $"recall {recall:F3} < {RecallGoal}");
    }

    private static async Task<Result> Run(string name, bool fromIssue, string code)
    {
        var text = Snippets.Prelude + code;
        var tree = CSharpSyntaxTree.ParseText(text, UserCompilation.ParseOptions, "Snippet.cs");
        var (_, compilation) = UserCompilation.Generate("Snippet", OutputKind.DynamicallyLinkedLibrary, [tree]);
        var diagnostics = await compilation.WithAnalyzers(Analyzers).GetAllDiagnosticsAsync();

        var expected = text.Split('\n')
            .Select((line, index) => (Match: Expectation().Match(line), Line: index + 1))
            .Where(x => x.Match.Success)
            .Select(x => $"{x.Match.Groups["id"].Value} at line {x.Line}")
            .Order()
            .ToImmutableArray();
        var actual = diagnostics
            .Where(d => d.Id.StartsWith("CKPT", System.StringComparison.Ordinal) && d.Location.SourceTree == tree)
            .Select(d => $"{d.Id} at line {d.Location.GetLineSpan().StartLinePosition.Line + 1}")
            .Distinct()
            .Order()
            .ToImmutableArray();
        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error && !d.Id.StartsWith("CKPT", System.StringComparison.Ordinal)).Select(d => d.ToString()).ToImmutableArray();
        return new Result(name, fromIssue, expected, actual, errors);
    }

    private sealed record Result(string Name, bool KnownGap, ImmutableArray<string> Expected, ImmutableArray<string> Actual, ImmutableArray<string> Errors);
}
