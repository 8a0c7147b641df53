using System.Collections.Concurrent;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace CheckpointGen.Analyzers;

/// <summary>The symbols the analyzers compare against, resolved once per compilation.</summary>
internal sealed class CheckpointSymbols
{
    private readonly ConcurrentDictionary<ITypeSymbol, IFieldSymbol?> firstPretrainedField = new(SymbolEqualityComparer.Default);

    private CheckpointSymbols(INamedTypeSymbol pretrained, INamedTypeSymbol checkpointable, INamedTypeSymbol module, INamedTypeSymbol tensor, INamedTypeSymbol? optim, INamedTypeSymbol? optimizer)
    {
        Pretrained = pretrained;
        Checkpointable = checkpointable;
        Module = module;
        Tensor = tensor;
        Optim = optim;
        Optimizer = optimizer;
    }

    public INamedTypeSymbol Pretrained { get; }

    public INamedTypeSymbol Checkpointable { get; }

    public INamedTypeSymbol Module { get; }

    public INamedTypeSymbol Tensor { get; }

    /// <summary><c>torch.optim</c>, whose static methods create optimizers.</summary>
    public INamedTypeSymbol? Optim { get; }

    /// <summary><c>torch.optim.Optimizer</c>, the base of every optimizer.</summary>
    public INamedTypeSymbol? Optimizer { get; }

    /// <summary>The symbols, or <see langword="null"/> when the compilation references neither CheckpointGen nor TorchSharp: nothing to analyze.</summary>
    public static CheckpointSymbols? Create(Compilation compilation)
    {
        var pretrained = compilation.GetTypeByMetadataName("CheckpointGen.PretrainedAttribute");
        var checkpointable = compilation.GetTypeByMetadataName("CheckpointGen.ICheckpointable");
        var module = compilation.GetTypeByMetadataName("TorchSharp.torch+nn+Module");
        var tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        return pretrained is null || checkpointable is null || module is null || tensor is null
            ? null
            : new CheckpointSymbols(pretrained, checkpointable, module, tensor,
                compilation.GetTypeByMetadataName("TorchSharp.torch+optim"),
                compilation.GetTypeByMetadataName("TorchSharp.torch+optim+Optimizer"));
    }

    public bool IsPretrained(IFieldSymbol field)
        => field.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, Pretrained));

    public bool IsModule(ITypeSymbol? type) => DerivesFrom(type, Module);

    public bool IsTensor(ITypeSymbol? type) => DerivesFrom(type, Tensor);

    public bool IsOptimizer(ITypeSymbol? type) => Optimizer is not null && DerivesFrom(type, Optimizer);

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

    /// <summary>The nearest base type that already has the generated members (its own <c>[Pretrained]</c> fields), or <see langword="null"/>.</summary>
    public INamedTypeSymbol? CheckpointableBase(INamedTypeSymbol type)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            if (current.AllInterfaces.Contains(Checkpointable, SymbolEqualityComparer.Default) || current.GetMembers().OfType<IFieldSymbol>().Any(IsPretrained))
            {
                return current;
            }
        }
        return null;
    }

    private static bool DerivesFrom(ITypeSymbol? type, INamedTypeSymbol baseType)
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
}
