using System.Linq;
using System.Threading;
using CheckpointGen.Generator.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.Generator;

public sealed partial class PretrainedGenerator
{
    /// <summary>The only code that reads symbols: it turns a <c>[Pretrained]</c> field into plain, equatable facts.</summary>
    internal static class Parser
    {
        private static readonly SymbolDisplayFormat NameWithTypeParameters = new(
            genericsOptions: SymbolDisplayGenericsOptions.IncludeTypeParameters,
            miscellaneousOptions: SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers);

        /// <summary>The field's facts, or <see langword="null"/> when the declaration is invalid (an analyzer reports it).</summary>
        public static PretrainedFieldTarget? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not IFieldSymbol field || field.IsStatic || field.IsConst)
            {
                return null;
            }
            var type = field.ContainingType;
            if (type.TypeKind != TypeKind.Class || !IsModule(field.Type) || !IsModule(type) || !IsPartialWithContainers(type, cancellationToken)
                || Containers(type).Any(t => t.IsFileLocal) || HasCheckpointableBase(type))
            {
                return null;
            }
            var attribute = context.Attributes[0];
            var source = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string : null;
            var keyPrefix = attribute.NamedArguments.FirstOrDefault(a => a.Key == KnownNames.KeyPrefix).Value.Value as string;
            return new PretrainedFieldTarget(Declaration(type), new PretrainedFieldInfo(Escape(field.Name), source, keyPrefix));
        }

        private static ModelTypeDeclaration Declaration(INamedTypeSymbol type)
        {
            var containers = type.ContainingType is null
                ? Enumerable.Empty<INamedTypeSymbol>()
                : Enumerable.Reverse(Containers(type.ContainingType).ToArray());
            var ns = type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString();
            var hintName = HintName(string.Join(".", new[] { ns }.Concat(containers.Concat(new[] { type }).Select(t => t.MetadataName)).Where(n => n is not null)));
            return new ModelTypeDeclaration(
                hintName,
                ns,
                containers.Select(c => new ContainingType(Keyword(c), c.ToDisplayString(NameWithTypeParameters))).ToEquatableArray(),
                type.ToDisplayString(NameWithTypeParameters),
                type.ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat),
                DeclaresTrain(type));
        }

        private static System.Collections.Generic.IEnumerable<INamedTypeSymbol> Containers(INamedTypeSymbol? type)
        {
            for (; type is not null; type = type.ContainingType)
            {
                yield return type;
            }
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

        /// <summary>True for <c>torch.nn.Module</c> and everything deriving from it, including type parameters constrained to it.</summary>
        internal static bool IsModule(ITypeSymbol type)
        {
            if (type is ITypeParameterSymbol parameter)
            {
                return parameter.ConstraintTypes.Any(IsModule);
            }
            for (var current = type; current is not null; current = current.BaseType)
            {
                if (current is INamedTypeSymbol { Name: "Module", Arity: 0, ContainingType: { Name: "nn", ContainingType: { Name: "torch", ContainingNamespace: { Name: "TorchSharp", ContainingNamespace.IsGlobalNamespace: true } } } })
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>
        /// A base type with <c>[Pretrained]</c> fields (here or compiled elsewhere) already has the generated members;
        /// generating them again would hide them, so such a type is skipped (CKPT004).
        /// </summary>
        internal static bool HasCheckpointableBase(INamedTypeSymbol type)
        {
            for (var current = type.BaseType; current is not null; current = current.BaseType)
            {
                if (current.AllInterfaces.Any(i => i.ToDisplayString() == KnownNames.Checkpointable)
                    || current.GetMembers().OfType<IFieldSymbol>().Any(f => f.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == KnownNames.PretrainedAttribute)))
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>Partial declarations can only be added to a type when it and every type around it are partial.</summary>
        internal static bool IsPartialWithContainers(INamedTypeSymbol type, CancellationToken cancellationToken)
            => Containers(type).All(t => t.DeclaringSyntaxReferences.All(r =>
                r.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration && declaration.Modifiers.Any(SyntaxKind.PartialKeyword)));

        /// <summary>A file name Roslyn accepts: verbatim-identifier marks dropped, anything unusual replaced.</summary>
        private static string HintName(string typeName)
            => new string(typeName.Replace("@", "").Select(c => char.IsLetterOrDigit(c) || c is '.' or '_' or '-' or '`' ? c : '_').ToArray()) + ".g.cs";

        private static string Escape(string identifier)
            => SyntaxFacts.GetKeywordKind(identifier) == SyntaxKind.None ? identifier : "@" + identifier;
    }
}
