using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using CheckpointGen.Analyzers.Flow;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// The symbols the analyzers compare against and the facts they derive from them, resolved once per compilation and
/// shared by every CheckpointGen analyzer of that compilation: each fact is computed at most once, whichever analyzer asks first.
/// </summary>
internal sealed class CheckpointSymbols
{
    /// <summary>How deep an enclosing model's fields are searched for models with pretrained parts.</summary>
    private const int MaxChildDepth = 4;

    private static readonly ConditionalWeakTable<Compilation, Holder> PerCompilation = new();

    private readonly ConcurrentDictionary<ITypeSymbol, ModelFacts?> models = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<INamedTypeSymbol, ImmutableArray<IFieldSymbol>> declaredPretrained = new(SymbolEqualityComparer.Default);
    private readonly Lazy<ILookup<INamedTypeSymbol, INamedTypeSymbol>> derivedTypes;

    private CheckpointSymbols(Compilation compilation, PretrainedDeclarationRules rules, INamedTypeSymbol tensor)
    {
        Compilation = compilation;
        Rules = rules;
        Tensor = tensor;
        Parameter = compilation.GetTypeByMetadataName("TorchSharp.Modules.Parameter");
        Optim = compilation.GetTypeByMetadataName("TorchSharp.torch+optim");
        Optimizer = compilation.GetTypeByMetadataName("TorchSharp.torch+optim+Optimizer");
        ParamGroup = compilation.GetTypeByMetadataName("TorchSharp.Modules.ParamGroup");
        ComponentName = compilation.GetTypeByMetadataName("TorchSharp.Utils.ComponentNameAttribute");
        Enumerable = compilation.GetTypeByMetadataName("System.Linq.Enumerable");
        Bodies = new SourceBodies(compilation);
        Summaries = new MethodSummaries(this);
        derivedTypes = new Lazy<ILookup<INamedTypeSymbol, INamedTypeSymbol>>(FindDerivedTypes, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);
        Adapter = compilation.GetTypeByMetadataName("CheckpointGen.AdapterAttribute");
    }

    public Compilation Compilation { get; }

    /// <summary>What a valid <c>[Pretrained]</c> declaration is, as the generator sees it.</summary>
    public PretrainedDeclarationRules Rules { get; }

    public INamedTypeSymbol Module => Rules.Module;

    /// <summary><c>CheckpointGen.ICheckpointable</c>: the types with the generated members.</summary>
    public INamedTypeSymbol Checkpointable => Rules.Checkpointable;

    public INamedTypeSymbol Tensor { get; }

    /// <summary><c>TorchSharp.Modules.Parameter</c>.</summary>
    public INamedTypeSymbol? Parameter { get; }

    /// <summary><c>torch.optim</c>, whose static methods create optimizers.</summary>
    public INamedTypeSymbol? Optim { get; }

    /// <summary><c>torch.optim.Optimizer</c>, the base of every optimizer.</summary>
    public INamedTypeSymbol? Optimizer { get; }

    /// <summary><c>CheckpointGen.AdapterAttribute</c>, or <see langword="null"/> with a CheckpointGen that predates adapters.</summary>
    public INamedTypeSymbol? Adapter { get; }

    /// <summary><c>TorchSharp.Modules.ParamGroup</c>, the base of every optimizer's parameter group.</summary>
    public INamedTypeSymbol? ParamGroup { get; }

    /// <summary><c>TorchSharp.Utils.ComponentNameAttribute</c>, which renames a registered field.</summary>
    public INamedTypeSymbol? ComponentName { get; }

    /// <summary><c>System.Linq.Enumerable</c>.</summary>
    public INamedTypeSymbol? Enumerable { get; }

    /// <summary>The operation trees of the compilation's methods, for following values into the methods code calls.</summary>
    public SourceBodies Bodies { get; }

    /// <summary>What each method of the compilation returns and does with its parameters, computed once.</summary>
    public MethodSummaries Summaries { get; }

    /// <summary>
    /// The symbols of the compilation, or <see langword="null"/> when it references neither CheckpointGen nor TorchSharp:
    /// nothing to analyze. Every analyzer of one compilation gets the same instance, with its caches.
    /// </summary>
    public static CheckpointSymbols? Create(Compilation compilation)
        => PerCompilation.GetValue(compilation, c => new Holder(CreateNew(c))).Symbols;

    private static CheckpointSymbols? CreateNew(Compilation compilation)
    {
        var rules = PretrainedDeclarationRules.For(compilation);
        var tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        return rules is null || tensor is null ? null : new CheckpointSymbols(compilation, rules, tensor);
    }

    public bool IsPretrained(IFieldSymbol field) => Rules.IsPretrained(field);

    /// <summary>
    /// The <c>[Pretrained]</c> field an expression reads: the field itself, or the backing field of a
    /// <c>[field: Pretrained]</c> property; <see langword="null"/> for anything else.
    /// </summary>
    public IFieldSymbol? PretrainedMember(IOperation? operation) => operation switch
    {
        IFieldReferenceOperation { Field: var field } when IsPretrained(field) => field,
        IPropertyReferenceOperation { Property: var property } => PretrainedBackingField(property),
        _ => null,
    };

    /// <summary>Whether the field (or a property's backing field) is marked <c>[Adapter]</c>: a trainable module inside a pretrained part.</summary>
    public bool IsAdapter(IFieldSymbol field) => Adapter is not null && field.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, Adapter));

    /// <summary>
    /// The <c>[Adapter]</c> field an expression reads: the field itself, or the backing field of a <c>[field: Adapter]</c>
    /// property; <see langword="null"/> for anything else. What is reached through it (<c>vae.Adapter.weight</c>) is an
    /// adapter's, which trains inside its pretrained part: no reason for CKPT011 or CKPT012.
    /// </summary>
    public IFieldSymbol? AdapterMember(IOperation? operation) => operation switch
    {
        IFieldReferenceOperation { Field: var field } when IsAdapter(field) => field,
        IPropertyReferenceOperation { Property: var property } when PretrainedDeclarationRules.BackingField(property) is { } field && IsAdapter(field) => field,
        _ => null,
    };

    /// <summary>The backing field of a <c>[field: Pretrained]</c> property, or <see langword="null"/>.</summary>
    public IFieldSymbol? PretrainedBackingField(IPropertySymbol property)
        => property.ContainingType is { } type && DeclaredPretrained(type).FirstOrDefault(f => SymbolEqualityComparer.Default.Equals(f.AssociatedSymbol, property) || f.AssociatedSymbol?.Name == property.Name && f.AssociatedSymbol is IPropertySymbol) is { } field
            ? field
            : null;

    public bool IsModule(ITypeSymbol? type) => Rules.IsModule(type);

    public bool IsTensor(ITypeSymbol? type) => PretrainedDeclarationRules.DerivesFrom(type, Tensor);

    public bool IsParameter(ITypeSymbol? type) => Parameter is not null && PretrainedDeclarationRules.DerivesFrom(type, Parameter);

    public bool IsOptimizer(ITypeSymbol? type) => Optimizer is not null && PretrainedDeclarationRules.DerivesFrom(type, Optimizer);

    public bool IsParamGroup(ITypeSymbol? type) => ParamGroup is not null && PretrainedDeclarationRules.DerivesFrom(type, ParamGroup);

    /// <summary>True for a type (or a type parameter constrained to one) with the generated members: <c>model.SaveCheckpoint(...)</c> compiles on it.</summary>
    public bool HasCheckpointMembers(ITypeSymbol? type) => type switch
    {
        ITypeParameterSymbol parameter => parameter.ConstraintTypes.Any(HasCheckpointMembers),
        INamedTypeSymbol named => SymbolEqualityComparer.Default.Equals(named, Checkpointable) || named.AllInterfaces.Contains(Checkpointable, SymbolEqualityComparer.Default),
        _ => false,
    };

    /// <summary>
    /// True when the generator wrote the type's file, which declares the type <c>ICheckpointable</c> (for a type with
    /// <c>[Pretrained]</c> members, nothing else does).
    /// </summary>
    public bool IsGenerated(INamedTypeSymbol type) => type.Interfaces.Contains(Checkpointable, SymbolEqualityComparer.Default);

    /// <summary>
    /// The model type a method the code of <paramref name="type"/> calls without <c>this.</c> (<c>FreezePretrained()</c>,
    /// <c>TrainableParameters()</c>, <c>LoadPretrained()</c>) is generated into, found as the generator finds it: the type
    /// itself or its nearest base type with <c>[Pretrained]</c> members, declared in this compilation and with generated code;
    /// <see langword="null"/> when there is none (the code must then write <c>this.</c>, which reaches the extension method).
    /// </summary>
    public INamedTypeSymbol? GeneratedModelFor(INamedTypeSymbol? type)
    {
        for (var current = type; current is not null && SymbolEqualityComparer.Default.Equals(current.ContainingAssembly, Compilation.Assembly); current = current.BaseType)
        {
            if (!DeclaredPretrained(current).IsEmpty)
            {
                return IsGenerated(current.OriginalDefinition) ? current : null;
            }
        }
        return null;
    }

    /// <summary>The <c>[Pretrained]</c> members the type itself declares (not those of its base types), cached.</summary>
    public ImmutableArray<IFieldSymbol> DeclaredPretrained(INamedTypeSymbol type)
        => declaredPretrained.GetOrAdd(type.OriginalDefinition, t => Rules.PretrainedMembers(t).ToImmutableArray());

    /// <summary>The first <c>[Pretrained]</c> field of the type or its base types, or <see langword="null"/>.</summary>
    public IFieldSymbol? FirstPretrainedField(ITypeSymbol type)
    {
        for (var current = type as INamedTypeSymbol; current is not null; current = current.BaseType)
        {
            if (DeclaredPretrained(current) is { Length: > 0 } fields)
            {
                return fields[0];
            }
        }
        return null;
    }

    /// <summary>
    /// What makes the type a model with pretrained parts: its own <c>[Pretrained]</c> members and those of its base types,
    /// and the parts of the models it holds in its fields (an enclosing model); <see langword="null"/> for any other type.
    /// A type parameter is the model its constraints make it.
    /// </summary>
    public ModelFacts? Model(ITypeSymbol? type)
    {
        if (type is null || type.SpecialType != SpecialType.None || type.TypeKind is not (TypeKind.Class or TypeKind.TypeParameter))
        {
            return null;
        }
        return models.GetOrAdd(type, t => ComputeModel(t, depth: 0, new HashSet<ITypeSymbol>(SymbolEqualityComparer.Default)));
    }

    private ModelFacts? ComputeModel(ITypeSymbol type, int depth, HashSet<ITypeSymbol> visiting)
    {
        if (type is ITypeParameterSymbol parameter)
        {
            return parameter.ConstraintTypes.Select(c => c is ITypeParameterSymbol ? null : ModelAt(c, depth, visiting)).FirstOrDefault(m => m is not null);
        }
        if (type is not INamedTypeSymbol named || !IsModule(named) || !visiting.Add(named))
        {
            return null;
        }
        var parts = new List<PretrainedPart>();
        for (var current = named; current is not null && !SymbolEqualityComparer.Default.Equals(current.OriginalDefinition, Module); current = current.BaseType)
        {
            foreach (var field in DeclaredPretrained(current))
            {
                var name = RegisteredName(field);
                parts.Add(new PretrainedPart(field, PretrainedDeclarationRules.MemberName(field), name + "."));
            }
        }
        // An enclosing model: the pretrained parts of the models in its fields are left out of its checkpoint too.
        if (depth < MaxChildDepth)
        {
            for (var current = named; current is not null && current.Locations.Any(l => l.IsInSource); current = current.BaseType)
            {
                foreach (var member in current.GetMembers())
                {
                    if (member is IFieldSymbol { IsStatic: false, IsConst: false } child && !IsPretrained(child) && IsModule(child.Type)
                        && ModelAt(child.Type, depth + 1, visiting) is { } childModel)
                    {
                        var name = PretrainedDeclarationRules.MemberName(child);
                        var registered = RegisteredName(child);
                        parts.AddRange(childModel.Parts.Select(p => new PretrainedPart(p.Member, name + "." + p.Path, registered + "." + p.Prefix)));
                    }
                }
            }
        }
        visiting.Remove(named);
        return parts.Count == 0 ? null : new ModelFacts(parts.ToImmutableArray(), HasCheckpointMembers(named));
    }

    private ModelFacts? ModelAt(ITypeSymbol type, int depth, HashSet<ITypeSymbol> visiting)
        => depth == 0 ? Model(type) : ComputeModel(type, depth, visiting);

    /// <summary>The compilation's types that derive, directly or not, from <paramref name="type"/>; found in one walk, the first time a question needs them.</summary>
    public IEnumerable<INamedTypeSymbol> DerivedTypes(INamedTypeSymbol type) => derivedTypes.Value[type.OriginalDefinition];

    private ILookup<INamedTypeSymbol, INamedTypeSymbol> FindDerivedTypes()
    {
        var pairs = new List<(INamedTypeSymbol Base, INamedTypeSymbol Derived)>();
        var pending = new Stack<INamespaceOrTypeSymbol>();
        pending.Push(Compilation.Assembly.GlobalNamespace);
        while (pending.Count > 0)
        {
            var container = pending.Pop();
            foreach (var member in container.GetMembers())
            {
                if (member is INamespaceOrTypeSymbol nested)
                {
                    pending.Push(nested);
                }
                if (member is INamedTypeSymbol { TypeKind: TypeKind.Class } type)
                {
                    for (var current = type.BaseType; current is not null; current = current.BaseType)
                    {
                        pairs.Add((current.OriginalDefinition, type));
                    }
                }
            }
        }
        return pairs.ToLookup<(INamedTypeSymbol Base, INamedTypeSymbol Derived), INamedTypeSymbol, INamedTypeSymbol>(p => p.Base, p => p.Derived, SymbolEqualityComparer.Default);
    }

    /// <summary>The name TorchSharp registers a field under: its <c>[ComponentName]</c>, or its own (the property's, for a backing field).</summary>
    private string RegisteredName(IFieldSymbol field)
    {
        if (ComponentName is not null)
        {
            foreach (var attribute in field.GetAttributes())
            {
                if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, ComponentName)
                    && attribute.NamedArguments.FirstOrDefault(a => a.Key == "Name").Value.Value is string name)
                {
                    return name;
                }
            }
        }
        return PretrainedDeclarationRules.MemberName(field);
    }

    /// <summary>A box, since a compilation without CheckpointGen has no symbols and the table cannot hold a null.</summary>
    private sealed class Holder(CheckpointSymbols? symbols)
    {
        public CheckpointSymbols? Symbols { get; } = symbols;
    }
}

/// <summary>A model's pretrained parts, in declaration order: its own, then those of the models in its fields.</summary>
internal sealed class ModelFacts(ImmutableArray<PretrainedPart> parts, bool hasCheckpointMembers)
{
    public ImmutableArray<PretrainedPart> Parts { get; } = parts;

    /// <summary>The part named in messages.</summary>
    public PretrainedPart First => Parts[0];

    /// <summary>True when the type itself is an <c>ICheckpointable</c>: <c>SaveCheckpoint</c>, <c>TrainableParameters()</c>, ... compile on it.</summary>
    public bool HasCheckpointMembers { get; } = hasCheckpointMembers;
}

/// <summary>One pretrained part of a model: the member, the path code reads it by (<c>decoder.text_encoder</c>) and its state-dict prefix.</summary>
internal sealed class PretrainedPart(IFieldSymbol member, string path, string prefix)
{
    public IFieldSymbol Member { get; } = member;

    public string Path { get; } = path;

    /// <summary>The prefix of its keys in the model's <c>state_dict()</c>, with the trailing dot.</summary>
    public string Prefix { get; } = prefix;
}
