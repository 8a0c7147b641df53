using System.Collections.Immutable;
using System.Composition;
using CheckpointGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.CodeFixes;

/// <summary>
/// CKPT020, CKPT021: <c>model.load(path)</c> becomes <c>model.LoadCheckpoint(path)</c>, <c>model.save(path)</c> becomes
/// <c>model.SaveCheckpoint(path)</c>. Those are extension methods, so a call without a receiver of its own (<c>save(path)</c>
/// inside the model) or on <c>base</c> becomes <c>this.SaveCheckpoint(path)</c>.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ReplaceCallCodeFix)), Shared]
public sealed class ReplaceCallCodeFix : SyntaxReplacementCodeFix
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.StrictLoad.Id, DiagnosticDescriptors.FullSave.Id);

    /// <inheritdoc/>
    private protected override Fix? Replacement(SyntaxNode root, Diagnostic diagnostic)
        => diagnostic.Properties.TryGetValue(CheckpointCallReplacement.Property, out var method) && method is not null
            && root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is InvocationExpressionSyntax { ArgumentList.Arguments.Count: > 0 } call
            && Replace(call, method, diagnostic.Properties.ContainsKey(CheckpointCallReplacement.QualifyProperty)) is { } replacement
            ? new Fix($"Use {method}(...)", method, call, replacement)
            : null;

    /// <summary>Same receiver (<c>this</c> for none or <c>base</c>), the generated method, and the path or stream argument only.</summary>
    private static InvocationExpressionSyntax? Replace(InvocationExpressionSyntax call, string method, bool qualify)
    {
        var name = SyntaxFactory.IdentifierName(method);
        ExpressionSyntax? target = call.Expression switch
        {
            MemberAccessExpressionSyntax { Expression: BaseExpressionSyntax baseExpression } access
                => access.WithExpression(SyntaxFactory.ThisExpression().WithTriviaFrom(baseExpression)).WithName(name.WithTriviaFrom(access.Name)),
            MemberAccessExpressionSyntax access => access.WithName(name.WithTriviaFrom(access.Name)),
            SimpleNameSyntax simple when qualify => SyntaxFactory.MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, SyntaxFactory.ThisExpression(), name)
                .WithTriviaFrom(simple),
            _ => null,
        };
        if (target is null)
        {
            return null;
        }
        var argument = call.ArgumentList.Arguments[0].WithNameColon(null);
        return call
            .WithExpression(target)
            .WithArgumentList(call.ArgumentList.WithArguments(SyntaxFactory.SingletonSeparatedList(argument)));
    }
}
