using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using CheckpointGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;

namespace CheckpointGen.CodeFixes;

/// <summary>CKPT010: inserts <c>FreezePretrained();</c> after <c>RegisterComponents();</c>, or at the end of the constructor.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(InsertFreezeCodeFix)), Shared]
public sealed class InsertFreezeCodeFix : SyntaxReplacementCodeFix
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.NeverFrozen.Id);

    /// <inheritdoc/>
    private protected override Fix? Replacement(SyntaxNode root, Diagnostic diagnostic)
        => root.FindToken(diagnostic.Location.SourceSpan.Start).Parent is ConstructorDeclarationSyntax constructor
            ? new Fix("Call FreezePretrained()", nameof(InsertFreezeCodeFix), constructor, InsertFreeze(constructor))
            : null;

    private static ConstructorDeclarationSyntax InsertFreeze(ConstructorDeclarationSyntax constructor)
    {
        var body = constructor.Body
            ?? (constructor.ExpressionBody is { } arrow ? SyntaxFactory.Block(SyntaxFactory.ExpressionStatement(arrow.Expression)) : SyntaxFactory.Block());
        var register = body.Statements.LastOrDefault(s => s is ExpressionStatementSyntax
        {
            Expression: InvocationExpressionSyntax { Expression: IdentifierNameSyntax { Identifier.Text: "RegisterComponents" } or MemberAccessExpressionSyntax { Name.Identifier.Text: "RegisterComponents" } }
        });
        // The new line is laid out like the statement it follows.
        var freeze = SyntaxFactory.ParseStatement("FreezePretrained();").WithAdditionalAnnotations(Formatter.Annotation);
        if ((register ?? body.Statements.LastOrDefault()) is { } neighbour)
        {
            freeze = freeze.WithTriviaFrom(neighbour);
        }
        var statements = register is null ? body.Statements.Add(freeze) : body.Statements.Insert(body.Statements.IndexOf(register) + 1, freeze);
        return constructor
            .WithExpressionBody(null)
            .WithSemicolonToken(default)
            .WithBody(body.WithStatements(statements).WithAdditionalAnnotations(Formatter.Annotation));
    }
}
