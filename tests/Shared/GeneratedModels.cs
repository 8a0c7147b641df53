using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.Testing;

/// <summary>
/// The model types a generator run wrote members for, read from the generated code (all of them share one file): what
/// the tests ask instead of which files exist.
/// </summary>
internal static class GeneratedModels
{
    /// <summary>The types' names with their namespace and containing types (<c>Samples.Outer.Inner</c>), in ordinal order.</summary>
    public static string[] Names(GeneratorDriverRunResult result)
        => Declarations(result).Select(d => d.Name).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The generated declaration of the type named <paramref name="name"/> (as <see cref="Names"/> gives it), attributes included.</summary>
    public static string Text(GeneratorDriverRunResult result, string name)
        => Declarations(result).Single(d => d.Name == name).Declaration.ToFullString();

    private static IEnumerable<(string Name, TypeDeclarationSyntax Declaration)> Declarations(GeneratorDriverRunResult result)
        => result.GeneratedTrees
            .SelectMany(tree => tree.GetRoot().DescendantNodes().OfType<TypeDeclarationSyntax>())
            .Where(type => type.BaseList?.Types.Any(b => b.Type.ToString().EndsWith("ICheckpointable", StringComparison.Ordinal)) == true)
            .Select(type => (QualifiedName(type), type));

    private static string QualifiedName(SyntaxNode node)
        => string.Join(".", node.AncestorsAndSelf().Reverse().Select(n => n switch
        {
            BaseNamespaceDeclarationSyntax ns => ns.Name.ToString(),
            TypeDeclarationSyntax type => type.Identifier.ValueText,
            _ => null,
        }).OfType<string>());
}
