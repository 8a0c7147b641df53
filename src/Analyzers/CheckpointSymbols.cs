using System.Collections.Concurrent;
using System.Linq;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>The symbols the analyzers compare against, resolved once per compilation.</summary>
internal sealed class CheckpointSymbols
{
    private readonly ConcurrentDictionary<ITypeSymbol, IFieldSymbol?> firstPretrainedField = new(SymbolEqualityComparer.Default);

    private CheckpointSymbols(PretrainedDeclarationRules rules, INamedTypeSymbol tensor, INamedTypeSymbol? optim, INamedTypeSymbol? optimizer, INamedTypeSymbol? adapter)
    {
        Rules = rules;
        Tensor = tensor;
        Optim = optim;
        Optimizer = optimizer;
        Adapter = adapter;
    }

    /// <summary>What a valid <c>[Pretrained]</c> declaration is, as the generator sees it.</summary>
    public PretrainedDeclarationRules Rules { get; }

    public INamedTypeSymbol Module => Rules.Module;

    public INamedTypeSymbol Tensor { get; }

    /// <summary><c>torch.optim</c>, whose static methods create optimizers.</summary>
    public INamedTypeSymbol? Optim { get; }

    /// <summary><c>torch.optim.Optimizer</c>, the base of every optimizer.</summary>
    public INamedTypeSymbol? Optimizer { get; }

    /// <summary><c>CheckpointGen.AdapterAttribute</c>, or <see langword="null"/> with a CheckpointGen that predates adapters.</summary>
    public INamedTypeSymbol? Adapter { get; }

    /// <summary>The symbols, or <see langword="null"/> when the compilation references neither CheckpointGen nor TorchSharp: nothing to analyze.</summary>
    public static CheckpointSymbols? Create(Compilation compilation)
    {
        var rules = PretrainedDeclarationRules.Create(compilation);
        var tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        return rules is null || tensor is null
            ? null
            : new CheckpointSymbols(rules, tensor,
                compilation.GetTypeByMetadataName("TorchSharp.torch+optim"),
                compilation.GetTypeByMetadataName("TorchSharp.torch+optim+Optimizer"),
                compilation.GetTypeByMetadataName("CheckpointGen.AdapterAttribute"));
    }

    public bool IsPretrained(IFieldSymbol field) => Rules.IsPretrained(field);

    /// <summary>
    /// The <c>[Pretrained]</c> field an expression reads: the field itself, or the backing field of a
    /// <c>[field: Pretrained]</c> property; <see langword="null"/> for anything else.
    /// </summary>
    public IFieldSymbol? PretrainedMember(IOperation? operation) => operation switch
    {
        IFieldReferenceOperation { Field: var field } when IsPretrained(field) => field,
        IPropertyReferenceOperation { Property: var property } when PretrainedDeclarationRules.BackingField(property) is { } field && IsPretrained(field) => field,
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

    public bool IsModule(ITypeSymbol? type) => Rules.IsModule(type);

    public bool IsTensor(ITypeSymbol? type) => PretrainedDeclarationRules.DerivesFrom(type, Tensor);

    public bool IsOptimizer(ITypeSymbol? type) => Optimizer is not null && PretrainedDeclarationRules.DerivesFrom(type, Optimizer);

    /// <summary>The first <c>[Pretrained]</c> field of the type or its base types, or <see langword="null"/>.</summary>
    public IFieldSymbol? FirstPretrainedField(ITypeSymbol type)
        => firstPretrainedField.GetOrAdd(type, t =>
        {
            for (var current = t; current is not null; current = current.BaseType)
            {
                if (current.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(IsPretrained) is { } field)
                {
                    return field;
                }
            }
            return null;
        });
}
