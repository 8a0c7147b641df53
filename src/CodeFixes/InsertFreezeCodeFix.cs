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

/// <summary>
/// CKPT010: inserts <c>FreezePretrained();</c> after the constructor's last <c>RegisterComponents();</c> (or
/// <c>register_module(...)</c>), or at the end of a constructor of a type that is not abstract. Never into an abstract
/// model's constructor that registers nothing: the derived type registers the fields later, and freezing first would throw.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(InsertFreezeCodeFix)), Shared]
public sealed class InsertFreezeCodeFix : SyntaxReplacementCodeFix
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.NeverFrozen.Id);

    /// <inheritdoc/>
    private protected override Fix? Replacement(SyntaxNode root, Diagnostic diagnostic)
        => diagnostic.Properties.ContainsKey(FreezeInConstructorAnalyzer.Insert)
            && root.FindToken(diagnostic.Location.SourceSpan.Start).Parent is ConstructorDeclarationSyntax constructor
            ? new Fix("Call FreezePretrained()", nameof(InsertFreezeCodeFix), constructor, InsertFreeze(constructor))
            : null;

    private static ConstructorDeclarationSyntax InsertFreeze(ConstructorDeclarationSyntax constructor)
    {
        var body = constructor.Body ?? BlockOf(constructor);
        var register = body.Statements.LastOrDefault(s => s is ExpressionStatementSyntax { Expression: var expression } && FreezeInConstructorAnalyzer.IsRegistration(expression));
        // The new line is laid out like the statement it follows.
        var freeze = SyntaxFactory.ParseStatement("FreezePretrained();").WithAdditionalAnnotations(Formatter.Annotation);
        if ((register ?? body.Statements.LastOrDefault()) is { } neighbour)
        {
            // Its indentation and line ending, not the comment that may follow it.
            var lineEnd = neighbour.GetTrailingTrivia().LastOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
            freeze = freeze.WithLeadingTrivia(neighbour.GetLeadingTrivia()).WithTrailingTrivia(lineEnd == default ? SyntaxFactory.ElasticMarker : lineEnd);
        }
        var statements = register is null ? body.Statements.Add(freeze) : body.Statements.Insert(body.Statements.IndexOf(register) + 1, freeze);
        return constructor
            .WithExpressionBody(null)
            .WithSemicolonToken(default)
            .WithBody(body.WithStatements(statements).WithAdditionalAnnotations(Formatter.Annotation));
    }

    /// <summary>
    /// An expression body as a block: the expression becomes its statement, which keeps the comments written around the arrow
    /// and after the semicolon.
    /// </summary>
    private static BlockSyntax BlockOf(ConstructorDeclarationSyntax constructor)
    {
        if (constructor.ExpressionBody is not { } arrow)
        {
            return SyntaxFactory.Block();
        }
        var comments = arrow.ArrowToken.LeadingTrivia.Concat(arrow.ArrowToken.TrailingTrivia).Concat(arrow.Expression.GetLeadingTrivia())
            .Where(t => !t.IsKind(SyntaxKind.WhitespaceTrivia) && !t.IsKind(SyntaxKind.EndOfLineTrivia));
        var statement = SyntaxFactory.ExpressionStatement(
                arrow.Expression.WithoutTrivia(),
                SyntaxFactory.Token(SyntaxKind.SemicolonToken).WithTrailingTrivia(arrow.Expression.GetTrailingTrivia().Concat(constructor.SemicolonToken.TrailingTrivia)))
            .WithLeadingTrivia(comments.SelectMany(c => new[] { c, SyntaxFactory.ElasticCarriageReturnLineFeed }));
        return SyntaxFactory.Block(statement);
    }
}
