using System.Collections.Immutable;
using System.Composition;
using CheckpointGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.CodeFixes;

/// <summary>
/// CKPT012: hands the optimizer the model's <c>TrainableParameters()</c> instead of a pretrained module's parameters, on the
/// receiver the analyzer found reaches the same model there (<c>TrainableParameters()</c> inside the model, <c>m.TrainableParameters()</c>
/// elsewhere). No fix where none does, or where the argument is not the optimizer's whole parameter list.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UseTrainableParametersCodeFix)), Shared]
public sealed class UseTrainableParametersCodeFix : SyntaxReplacementCodeFix
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.PretrainedParametersOptimized.Id);

    /// <inheritdoc/>
    private protected override Fix? Replacement(SyntaxNode root, Diagnostic diagnostic)
        => diagnostic.Properties.TryGetValue(PretrainedOptimizerAnalyzer.Replacement, out var replacement) && replacement is not null
            && root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<ArgumentSyntax>() is { } argument
            ? new Fix("Pass TrainableParameters()", nameof(UseTrainableParametersCodeFix), argument.Expression,
                SyntaxFactory.ParseExpression(replacement).WithTriviaFrom(argument.Expression))
            : null;
}
