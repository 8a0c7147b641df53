using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;

namespace CheckpointGen.CodeFixes;

/// <summary>A fix that replaces one node where the diagnostic points; Fix All batches them.</summary>
public abstract class SyntaxReplacementCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public sealed override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public sealed override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }
        foreach (var diagnostic in context.Diagnostics)
        {
            if (Replacement(root, diagnostic) is { } fix)
            {
                context.RegisterCodeFix(
                    CodeAction.Create(fix.Title, _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(fix.Node, fix.Replacement))), fix.EquivalenceKey),
                    diagnostic);
            }
        }
    }

    /// <summary>The node to replace and what replaces it, or <see langword="null"/> where no mechanical fix exists.</summary>
    private protected abstract Fix? Replacement(SyntaxNode root, Diagnostic diagnostic);

    /// <summary>One replacement; fixes with the same <see cref="EquivalenceKey"/> are applied together by Fix All.</summary>
    private protected sealed class Fix(string title, string equivalenceKey, SyntaxNode node, SyntaxNode replacement)
    {
        public string Title { get; } = title;

        public string EquivalenceKey { get; } = equivalenceKey;

        public SyntaxNode Node { get; } = node;

        public SyntaxNode Replacement { get; } = replacement;
    }
}
