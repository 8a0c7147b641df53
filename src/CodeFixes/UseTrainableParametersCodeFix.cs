using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using CheckpointGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.CodeFixes;

/// <summary>CKPT012: hands the optimizer <c>TrainableParameters()</c> instead of a pretrained module's parameters.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UseTrainableParametersCodeFix)), Shared]
public sealed class UseTrainableParametersCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.PretrainedParametersOptimized.Id);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            if (diagnostic.Properties.ContainsKey(PretrainedOptimizerAnalyzer.InModel)
                && root?.FindNode(diagnostic.Location.SourceSpan).FirstAncestorOrSelf<ArgumentSyntax>() is { } argument)
            {
                var trainable = SyntaxFactory.ParseExpression("TrainableParameters()").WithTriviaFrom(argument.Expression);
                context.RegisterCodeFix(
                    CodeAction.Create("Pass TrainableParameters()", _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(argument.Expression, trainable))), nameof(UseTrainableParametersCodeFix)),
                    diagnostic);
            }
        }
    }
}
