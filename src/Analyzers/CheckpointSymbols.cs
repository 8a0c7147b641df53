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

    private CheckpointSymbols(PretrainedDeclarationRules rules, INamedTypeSymbol tensor, INamedTypeSymbol? optim, INamedTypeSymbol? optimizer)
    {
        Rules = rules;
        Tensor = tensor;
        Optim = optim;
        Optimizer = optimizer;
    }

    /// <summary>What a valid <c>[Pretrained]</c> declaration is, as the generator sees it.</summary>
    public PretrainedDeclarationRules Rules { get; }

    public INamedTypeSymbol Module => Rules.Module;

    public INamedTypeSymbol Tensor { get; }

    /// <summary><c>torch.optim</c>, whose static methods create optimizers.</summary>
    public INamedTypeSymbol? Optim { get; }

    /// <summary><c>torch.optim.Optimizer</c>, the base of every optimizer.</summary>
    public INamedTypeSymbol? Optimizer { get; }

    /// <summary>The symbols, or <see langword="null"/> when the compilation references neither CheckpointGen nor TorchSharp: nothing to analyze.</summary>
    public static CheckpointSymbols? Create(Compilation compilation)
    {
        var rules = PretrainedDeclarationRules.Create(compilation);
        var tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        return rules is null || tensor is null
            ? null
            : new CheckpointSymbols(rules, tensor,
                compilation.GetTypeByMetadataName("TorchSharp.torch+optim"),
                compilation.GetTypeByMetadataName("TorchSharp.torch+optim+Optimizer"));
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
