using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.Shared;

/// <summary>A rule of a valid <c>[Pretrained]</c> declaration. Each one has its own diagnostic.</summary>
internal enum PretrainedRule
{
    /// <summary>CKPT001: the model type and every type around it are partial, so that generated code can add to them.</summary>
    Partial,

    /// <summary>CKPT002: the model type derives from <c>torch.nn.Module</c>.</summary>
    DerivesFromModule,

    /// <summary>CKPT003: the member is an instance field, or the backing field of a readable property, of a module type.</summary>
    ModuleInstanceMember,

    /// <summary>CKPT004: no base type of the model type already has the generated members.</summary>
    OneModelPerHierarchy,

    /// <summary>CKPT005: neither the model type nor a type around it is file-local, since generated code lives in another file.</summary>
    NotFileLocal,
}

/// <summary>A declaration that breaks a rule: where to say so, and the arguments of the rule's message.</summary>
internal sealed class RuleViolation
{
    public RuleViolation(PretrainedRule rule, Location location, params object[] arguments)
    {
        Rule = rule;
        Location = location;
        Arguments = arguments;
    }

    public PretrainedRule Rule { get; }

    public Location Location { get; }

    public object[] Arguments { get; }
}

/// <summary>
/// What makes a <c>[Pretrained]</c> declaration valid. This one file is compiled into the generator, which writes code only
/// for members that break no rule, and into the analyzers, which report every broken rule: nothing is skipped unreported.
/// </summary>
internal sealed class PretrainedDeclarationRules
{
    public const string PretrainedAttributeName = "CheckpointGen.PretrainedAttribute";

    private PretrainedDeclarationRules(INamedTypeSymbol pretrained, INamedTypeSymbol checkpointable, INamedTypeSymbol module)
    {
        Pretrained = pretrained;
        Checkpointable = checkpointable;
        Module = module;
    }

    /// <summary><c>CheckpointGen.PretrainedAttribute</c>.</summary>
    public INamedTypeSymbol Pretrained { get; }

    /// <summary><c>CheckpointGen.ICheckpointable</c>, which every generated model implements.</summary>
    public INamedTypeSymbol Checkpointable { get; }

    /// <summary><c>torch.nn.Module</c>.</summary>
    public INamedTypeSymbol Module { get; }

    /// <summary>The rules of each compilation, looked up once: the generator asks at every <c>[Pretrained]</c> member and call.</summary>
    private static readonly ConditionalWeakTable<Compilation, StrongBox<PretrainedDeclarationRules?>> RulesOfCompilations = new();

    /// <summary>
    /// The rules for one compilation, or <see langword="null"/> when it lacks CheckpointGen or TorchSharp: without a module type
    /// no declaration can be valid, and without the attribute there is none.
    /// </summary>
    public static PretrainedDeclarationRules? For(Compilation compilation)
        => RulesOfCompilations.GetValue(compilation, static c => new StrongBox<PretrainedDeclarationRules?>(Create(c))).Value;

    private static PretrainedDeclarationRules? Create(Compilation compilation)
    {
        var pretrained = compilation.GetTypeByMetadataName(PretrainedAttributeName);
        var checkpointable = compilation.GetTypeByMetadataName("CheckpointGen.ICheckpointable");
        var module = compilation.GetTypeByMetadataName("TorchSharp.torch+nn+Module");
        return pretrained is null || checkpointable is null || module is null ? null : new PretrainedDeclarationRules(pretrained, checkpointable, module);
    }

    /// <summary>The <c>[Pretrained]</c> attribute of the field, or <see langword="null"/>.</summary>
    public AttributeData? PretrainedAttribute(IFieldSymbol field)
        => field.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, Pretrained));

    public bool IsPretrained(IFieldSymbol field) => PretrainedAttribute(field) is not null;

    /// <summary>The type's <c>[Pretrained]</c> members: its fields, and the backing fields of its <c>[field: Pretrained]</c> properties.</summary>
    public IEnumerable<IFieldSymbol> PretrainedMembers(INamedTypeSymbol type) => type.GetMembers().OfType<IFieldSymbol>().Where(IsPretrained);

    /// <summary>True for <c>torch.nn.Module</c> and everything deriving from it, type parameters constrained to it included.</summary>
    public bool IsModule(ITypeSymbol? type) => DerivesFrom(type, Module);

    /// <summary>True for <paramref name="baseType"/> (any construction of it) and every type deriving from it, type parameters constrained to one included.</summary>
    public static bool DerivesFrom(ITypeSymbol? type, INamedTypeSymbol baseType)
    {
        if (type is ITypeParameterSymbol parameter)
        {
            return parameter.ConstraintTypes.Any(c => DerivesFrom(c, baseType));
        }
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(current.OriginalDefinition, baseType))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The name code reads a <c>[Pretrained]</c> member by: the field's own or, for the backing field that
    /// <c>[field: Pretrained]</c> marks on a property, the property's.
    /// </summary>
    public static string MemberName(IFieldSymbol member) => member.AssociatedSymbol?.Name ?? member.Name;

    /// <summary>The field the compiler made for an auto-property (or a property using <c>field</c>), or <see langword="null"/>.</summary>
    public static IFieldSymbol? BackingField(IPropertySymbol property)
        // By name, since the field's associated symbol can be the other part of a partial property.
        => property.ContainingType.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => f.AssociatedSymbol is IPropertySymbol p && p.Name == property.Name);

    /// <summary>
    /// The nearest base type that already has the generated members (its own <c>[Pretrained]</c> members, or
    /// <c>ICheckpointable</c> for a model compiled elsewhere), or <see langword="null"/>.
    /// </summary>
    public INamedTypeSymbol? CheckpointableBase(INamedTypeSymbol type)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            // The definition's interfaces and members: those of a constructed base (nn.Module<Tensor, Tensor>) would be built
            // anew for each model.
            var definition = current.OriginalDefinition;
            if (definition.AllInterfaces.Contains(Checkpointable, SymbolEqualityComparer.Default) || PretrainedMembers(definition).Any())
            {
                return current;
            }
        }
        return null;
    }

    /// <summary>The generator's question: may it write checkpoint members for this <c>[Pretrained]</c> member? Only when no rule is broken.</summary>
    public bool IsUsable(IFieldSymbol member, CancellationToken cancellationToken)
    {
        var model = member.ContainingType;
        return !MemberViolations(member).Any()
            && !ModelTypeViolations(model).Any()
            && TypeAndContainers(model).All(type => !EnclosingTypeViolations(type, model, cancellationToken).Any());
    }

    /// <summary>
    /// The analyzers' question: which rules do the declarations of this type break? Together over all types these are
    /// exactly the violations <see cref="IsUsable"/> looks for, each reported once, on the type that must change.
    /// </summary>
    public IEnumerable<RuleViolation> Violations(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var members = PretrainedMembers(type).ToArray();
        var violations = members.SelectMany(MemberViolations);
        if (members.Length > 0)
        {
            violations = violations.Concat(ModelTypeViolations(type));
        }
        var model = members.Length > 0 ? type : NestedModelType(type);
        return model is null ? violations : violations.Concat(EnclosingTypeViolations(type, model, cancellationToken));
    }

    /// <summary>
    /// <c>[field: Pretrained]</c> on a field-like event marks its backing field, which (unlike a property's) is not among the
    /// type's members: the generator never sees it, so only the analyzers can say so. An event's type is a delegate, never a module.
    /// </summary>
    public IEnumerable<RuleViolation> EventViolations(EventFieldDeclarationSyntax declaration, SemanticModel model, CancellationToken cancellationToken)
    {
        var marked = declaration.AttributeLists
            .Where(list => list.Target?.Identifier.IsKind(SyntaxKind.FieldKeyword) == true)
            .SelectMany(list => list.Attributes)
            .Any(attribute => SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(attribute, cancellationToken).Symbol?.ContainingType, Pretrained));
        return marked
            ? declaration.Declaration.Variables.Select(v => new RuleViolation(PretrainedRule.ModuleInstanceMember, v.Identifier.GetLocation(), v.Identifier.ValueText, "is an event"))
            : Enumerable.Empty<RuleViolation>();
    }

    private IEnumerable<RuleViolation> MemberViolations(IFieldSymbol member)
    {
        // Roslyn reports a const as static too: const is checked first so that the message names it.
        var problem = member.IsConst ? "is const"
            : member.IsStatic ? "is static"
            : member.AssociatedSymbol is IPropertySymbol { GetMethod: null } ? "is a property without a getter"
            : !IsModule(member.Type) ? $"has type '{member.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}', which is not a torch.nn.Module"
            : null;
        if (problem is not null)
        {
            yield return new RuleViolation(PretrainedRule.ModuleInstanceMember, member.Locations[0], MemberName(member), problem);
        }
    }

    private IEnumerable<RuleViolation> ModelTypeViolations(INamedTypeSymbol model)
    {
        if (!IsModule(model))
        {
            yield return new RuleViolation(PretrainedRule.DerivesFromModule, model.Locations[0], model.Name);
        }
        if (CheckpointableBase(model) is { } baseModel)
        {
            yield return new RuleViolation(PretrainedRule.OneModelPerHierarchy, model.Locations[0], model.Name, baseModel.Name);
        }
    }

    /// <summary>The generated file declares the model type again, nested in declarations of every type around it.</summary>
    private static IEnumerable<RuleViolation> EnclosingTypeViolations(INamedTypeSymbol type, INamedTypeSymbol model, CancellationToken cancellationToken)
    {
        foreach (var reference in type.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration && !declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                yield return new RuleViolation(PretrainedRule.Partial, declaration.Identifier.GetLocation(), type.Name, model.Name);
            }
        }
        if (type.IsFileLocal)
        {
            yield return new RuleViolation(PretrainedRule.NotFileLocal, type.Locations[0], type.Name, model.Name);
        }
    }

    /// <summary>A type nested, at any depth, in <paramref name="type"/> that has <c>[Pretrained]</c> members, or <see langword="null"/>.</summary>
    private INamedTypeSymbol? NestedModelType(INamedTypeSymbol type)
    {
        foreach (var nested in type.GetTypeMembers())
        {
            if (PretrainedMembers(nested).Any())
            {
                return nested;
            }
            if (NestedModelType(nested) is { } deeper)
            {
                return deeper;
            }
        }
        return null;
    }

    /// <summary>The type, then the type around it, and so on out to the namespace.</summary>
    public static IEnumerable<INamedTypeSymbol> TypeAndContainers(INamedTypeSymbol? type)
    {
        for (; type is not null; type = type.ContainingType)
        {
            yield return type;
        }
    }
}
