using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.Analyzers;

/// <summary>
/// Whether a <c>#pragma warning disable</c> covers a place in the code. A sink written on purpose under a pragma (a
/// baseline's TorchSharp <c>load</c>) is not reported again where a caller hands a model to the method that holds it.
/// </summary>
internal static class PragmaSuppressions
{
    public static bool IsSuppressed(SyntaxNode node, string id)
    {
        var suppressed = false;
        var position = node.SpanStart;
        for (var directive = node.SyntaxTree.GetRoot().GetFirstDirective(d => d is PragmaWarningDirectiveTriviaSyntax);
             directive is PragmaWarningDirectiveTriviaSyntax pragma && pragma.SpanStart < position;
             directive = directive.GetNextDirective(d => d is PragmaWarningDirectiveTriviaSyntax))
        {
            if (pragma.ErrorCodes.Count == 0 || pragma.ErrorCodes.Any(c => c is IdentifierNameSyntax name && string.Equals(name.Identifier.ValueText, id, StringComparison.OrdinalIgnoreCase)))
            {
                suppressed = pragma.DisableOrRestoreKeyword.IsKind(SyntaxKind.DisableKeyword);
            }
        }
        return suppressed;
    }
}
