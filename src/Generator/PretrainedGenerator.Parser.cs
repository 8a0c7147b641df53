using System;
using System.Linq;
using System.Threading;
using CheckpointGen.Generator.Models;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.Generator;

public sealed partial class PretrainedGenerator
{
    /// <summary>The only code that reads symbols: it turns a <c>[Pretrained]</c> member into plain, equatable facts.</summary>
    internal static class Parser
    {
        private const string KeyPrefix = "KeyPrefix";

        private static readonly SymbolDisplayFormat NameWithTypeParameters = new(
            genericsOptions: SymbolDisplayGenericsOptions.IncludeTypeParameters,
            miscellaneousOptions: SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers);

        /// <summary>A <c>[Pretrained]</c> field's facts, or <see langword="null"/> when the declaration breaks a rule (an analyzer reports it).</summary>
        public static PretrainedFieldTarget? ParseField(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
            => context.TargetSymbol is IFieldSymbol field && PretrainedDeclarationRules.For(context.SemanticModel.Compilation) is { } rules
                ? Parse(field, context.Attributes[0], rules, cancellationToken)
                : null;

        /// <summary>A property declaration with an attribute list for its backing field (<c>[field: ...]</c>): cheap, syntax only.</summary>
        public static bool HasFieldTargetedAttributes(SyntaxNode node)
            => node is PropertyDeclarationSyntax { AttributeLists.Count: > 0 } property
                && property.AttributeLists.Any(list => list.Target?.Identifier.IsKind(SyntaxKind.FieldKeyword) == true);

        /// <summary>
        /// The facts of a property whose backing field is <c>[Pretrained]</c>, read through the property, or <see langword="null"/>
        /// when its field is not marked here or the declaration breaks a rule (an analyzer reports it).
        /// </summary>
        public static PretrainedFieldTarget? ParseProperty(GeneratorSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.SemanticModel.GetDeclaredSymbol(context.Node, cancellationToken) is not IPropertySymbol property
                || PretrainedDeclarationRules.BackingField(property) is not { } field
                || PretrainedDeclarationRules.For(context.SemanticModel.Compilation) is not { } rules
                || rules.PretrainedAttribute(field) is not { ApplicationSyntaxReference: { } application } attribute
                // Of the declarations of a partial property, only the one carrying the attribute counts, so the member comes once.
                || application.SyntaxTree != context.Node.SyntaxTree
                || !context.Node.Span.Contains(application.Span))
            {
                return null;
            }
            return Parse(field, attribute, rules, cancellationToken);
        }

        private static PretrainedFieldTarget? Parse(IFieldSymbol field, AttributeData attribute, PretrainedDeclarationRules rules, CancellationToken cancellationToken)
        {
            if (!rules.IsUsable(field, cancellationToken))
            {
                return null;
            }
            var source = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string : null;
            var keyPrefix = attribute.NamedArguments.FirstOrDefault(a => a.Key == KeyPrefix).Value.Value as string;
            var name = Escape(PretrainedDeclarationRules.MemberName(field));
            return new PretrainedFieldTarget(Declaration(field.ContainingType), new PretrainedFieldInfo(name, source, keyPrefix));
        }

        /// <summary>
        /// Syntax only, so cheap enough for every node: a simple name <c>FreezePretrained</c>, <c>TrainableParameters</c> or
        /// <c>LoadPretrained</c> (called, or as a method group), not the member name of <c>x.FreezePretrained()</c> or
        /// <c>x?.FreezePretrained()</c>, which the runtime's extension methods serve.
        /// </summary>
        public static bool IsSimpleNameOfCalledMember(SyntaxNode node)
            => node is IdentifierNameSyntax name
                && Called(name.Identifier.ValueText) != CalledMembers.None
                && !(name.Parent is MemberAccessExpressionSyntax access && access.Name == name)
                && name.Parent is not (MemberBindingExpressionSyntax or QualifiedNameSyntax or AliasQualifiedNameSyntax);

        /// <summary>
        /// The model type whose generated member the simple name must find, or <see langword="null"/>: starting at the type
        /// whose code holds the name (its lambdas and local functions included; a nested type's code is the nested type's),
        /// the first type up its base types that declares <c>[Pretrained]</c> members. A derived type's unqualified
        /// <c>FreezePretrained()</c> thus gets its member on the model it derives from. The search stops at a type of another
        /// assembly (nothing can be added to it) and at a member of that name the user wrote, which the name then means.
        /// </summary>
        public static MemberCall? ParseCall(GeneratorSyntaxContext context, CancellationToken cancellationToken)
        {
            var name = (IdentifierNameSyntax)context.Node;
            var member = Called(name.Identifier.ValueText);
            if (name.FirstAncestorOrSelf<TypeDeclarationSyntax>() is not { } declaration
                || context.SemanticModel.GetDeclaredSymbol(declaration, cancellationToken) is not { } type
                || PretrainedDeclarationRules.For(context.SemanticModel.Compilation) is not { } rules)
            {
                return null;
            }
            var assembly = context.SemanticModel.Compilation.Assembly;
            for (var current = type; current is not null && SymbolEqualityComparer.Default.Equals(current.ContainingAssembly, assembly); current = current.BaseType)
            {
                if (current.GetMembers(name.Identifier.ValueText).Any(m => m is not IMethodSymbol { Parameters.Length: > 0 }))
                {
                    return null;
                }
                if (rules.PretrainedMembers(current.OriginalDefinition).Any())
                {
                    return new MemberCall(Key(current.OriginalDefinition), member);
                }
            }
            return null;
        }

        /// <summary>
        /// Whether code compiled with <paramref name="options"/> can call an extension property (C# 14). A compiler that
        /// does not know C# 14 cannot, whatever its language version says (<c>preview</c> on an older compiler).
        /// </summary>
        public static bool HasExtensionProperties(ParseOptions options)
            => Enum.IsDefined(typeof(LanguageVersion), CSharp14) && options is CSharpParseOptions { LanguageVersion: >= CSharp14 };

        /// <summary><c>LanguageVersion.CSharp14</c>, which the Roslyn this generator is built against predates.</summary>
        private const LanguageVersion CSharp14 = (LanguageVersion)1400;

        private static CalledMembers Called(string name) => name switch
        {
            "FreezePretrained" => CalledMembers.FreezePretrained,
            "TrainableParameters" => CalledMembers.TrainableParameters,
            "LoadPretrained" => CalledMembers.LoadPretrained,
            _ => CalledMembers.None,
        };

        private static ModelTypeDeclaration Declaration(INamedTypeSymbol type)
        {
            var containers = Enumerable.Reverse(PretrainedDeclarationRules.TypeAndContainers(type.ContainingType).ToArray());
            var ns = NamespaceOf(type);
            return new ModelTypeDeclaration(
                Key(type),
                ns,
                containers.Select(c => new ContainingType(Keyword(c), c.ToDisplayString(NameWithTypeParameters))).ToEquatableArray(),
                type.ToDisplayString(NameWithTypeParameters),
                DeclaresTrain(type));
        }

        private static string Keyword(INamedTypeSymbol type) => type switch
        {
            { IsRecord: true, TypeKind: TypeKind.Struct } => "record struct",
            { IsRecord: true } => "record",
            { TypeKind: TypeKind.Struct } => "struct",
            { TypeKind: TypeKind.Interface } => "interface",
            _ => "class",
        };

        /// <summary>A <c>train(bool)</c> the user wrote (an override or a hiding method) would clash with the generated one.</summary>
        private static bool DeclaresTrain(INamedTypeSymbol type)
            => type.GetMembers("train").OfType<IMethodSymbol>().Any(m => m.Parameters.Length == 1 && m.Parameters[0].Type.SpecialType == SpecialType.System_Boolean);

        /// <summary>
        /// A key unique per type: the namespace, then the containing types and the type by their metadata names, nested
        /// types after a '+' as in reflection (<c>Samples.Outer`1+Inner</c>), so that no nesting reads like a namespace.
        /// </summary>
        private static string Key(INamedTypeSymbol type)
        {
            var nesting = string.Join("+", Enumerable.Reverse(PretrainedDeclarationRules.TypeAndContainers(type).Select(t => t.MetadataName).ToArray()));
            return NamespaceOf(type) is { } ns ? ns + "." + nesting : nesting;
        }

        private static string? NamespaceOf(INamedTypeSymbol type)
            => type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString();

        private static string Escape(string identifier)
            => SyntaxFacts.GetKeywordKind(identifier) == SyntaxKind.None ? identifier : "@" + identifier;
    }
}
