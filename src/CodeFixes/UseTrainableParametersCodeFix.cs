using System.Collections.Immutable;
using System.Composition;
using CheckpointGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.CodeFixes;

/// <summary>CKPT012: hands the optimizer <c>TrainableParameters()</c> instead of a pretrained module's parameters.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UseTrainableParametersCodeFix)), Shared]
public sealed class UseTrainableParametersCodeFix : SyntaxReplacementCodeFix
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.PretrainedParametersOptimized.Id);

    /// <inheritdoc/>
    private protected override Fix? Replacement(SyntaxNode root, Diagnostic diagnostic)
        => diagnostic.Properties.ContainsKey(PretrainedOptimizerAnalyzer.InModel)
            && root.FindNode(diagnostic.Location.SourceSpan).FirstAncestorOrSelf<ArgumentSyntax>() is { } argument
            ? new Fix("Pass TrainableParameters()", nameof(UseTrainableParametersCodeFix), argument.Expression,
                SyntaxFactory.ParseExpression("TrainableParameters()").WithTriviaFrom(argument.Expression))
            : null;
}
