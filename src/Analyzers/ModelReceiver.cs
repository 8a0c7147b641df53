using System.Linq;
using CheckpointGen.Analyzers.Flow;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// The expression a code fix writes to reach a model at some place in the code (<c>m</c> in <c>m.TrainableParameters()</c>):
/// only one that means the same model there, and on which the generated members compile.
/// </summary>
internal static class ModelReceiver
{
    /// <summary>
    /// The receiver's text, the empty string for the model's own <c>this</c> where <c>TrainableParameters()</c> compiles
    /// unqualified (<c>this</c> where it does not), or <see langword="null"/> when no expression is sure to reach the same
    /// model at <paramref name="site"/>.
    /// </summary>
    public static string? At(FlowValue value, IOperation site, CheckpointSymbols symbols)
    {
        var owner = WithoutImplicitConversions(value.Owner);
        if (owner is null || !symbols.HasCheckpointMembers(owner.Type))
        {
            return null;
        }
        if (owner is IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance })
        {
            // The model's own members, and those of types deriving from it, reach it as 'this'. Unqualified, the name needs a
            // member on the type: the generator writes one into a model type in this compilation that the code derives from
            // once the call is there; a model compiled elsewhere has it only if its own code called it so.
            if (!IsInstanceContext(site) || !DerivesFrom(ContainingType(site), owner.Type))
            {
                return null;
            }
            return symbols.GeneratedModelFor(ContainingType(site)) is not null || HasMethod(site, "TrainableParameters") ? string.Empty : "this";
        }
        if (!IsStable(owner))
        {
            return null;
        }
        var text = owner.Syntax.ToString();
        if (site.Syntax.Span.Contains(owner.Syntax.Span))
        {
            return text;
        }
        // Written elsewhere (a local's initializer): the same symbol must be what its name means at the site, and never reassigned.
        var root = Root(owner);
        var symbol = root switch
        {
            IParameterReferenceOperation parameter => (ISymbol)parameter.Parameter,
            ILocalReferenceOperation local when LocalFlow.Writes(local).Count(w => w.Replaces) <= 1 => local.Local,
            IFieldReferenceOperation field => field.Field,
            IPropertyReferenceOperation property => property.Property,
            _ => null,
        };
        return symbol is not null && site.SemanticModel is { } model
            && model.LookupSymbols(site.Syntax.SpanStart, name: symbol.Name).Contains(symbol, SymbolEqualityComparer.Default)
            && (root is not (IFieldReferenceOperation { Field.IsStatic: false } or IPropertyReferenceOperation { Property.IsStatic: false }) || IsInstanceContext(site))
                ? text
                : null;
    }

    /// <summary>The text of an expression that is a chain of names, for a message; <see langword="null"/> for anything else.</summary>
    public static string? Text(IOperation? operation)
        => WithoutImplicitConversions(operation) is { } stable && IsStable(stable) && stable is not IInstanceReferenceOperation { IsImplicit: true } ? stable.Syntax.ToString() : null;

    /// <summary>A chain of names with no call in it: reading it twice reads the same thing.</summary>
    private static bool IsStable(IOperation operation) => operation switch
    {
        IParameterReferenceOperation or ILocalReferenceOperation or IInstanceReferenceOperation => true,
        IFieldReferenceOperation field => field.Instance is null || IsStable(field.Instance),
        IPropertyReferenceOperation { Arguments.Length: 0 } property => property.Instance is null || IsStable(property.Instance),
        _ => false,
    };

    /// <summary>The first name of the chain, or the chain's first member when it starts at <c>this</c> or a type.</summary>
    private static IOperation Root(IOperation operation)
    {
        while (true)
        {
            var instance = operation switch
            {
                IFieldReferenceOperation field => field.Instance,
                IPropertyReferenceOperation property => property.Instance,
                _ => null,
            };
            if (instance is null || instance is IInstanceReferenceOperation)
            {
                return operation;
            }
            operation = instance;
        }
    }

    private static IOperation? WithoutImplicitConversions(IOperation? operation)
    {
        while (operation is IConversionOperation { IsImplicit: true } conversion)
        {
            operation = conversion.Operand;
        }
        return operation;
    }

    /// <summary>An instance method without parameters that the simple name finds at the site.</summary>
    private static bool HasMethod(IOperation site, string name)
        => site.SemanticModel?.LookupSymbols(site.Syntax.SpanStart, name: name).Any(s => s is IMethodSymbol { IsStatic: false, Parameters.Length: 0 }) == true;

    private static bool IsInstanceContext(IOperation site) => Member(site) is { IsStatic: false };

    private static INamedTypeSymbol? ContainingType(IOperation site) => Member(site)?.ContainingType;

    /// <summary>The member whose code holds the site (a lambda's or local function's enclosing member).</summary>
    private static ISymbol? Member(IOperation site)
    {
        if (site.SemanticModel?.GetEnclosingSymbol(site.Syntax.SpanStart) is not { } symbol)
        {
            return null;
        }
        while (symbol is IMethodSymbol { MethodKind: MethodKind.LambdaMethod or MethodKind.LocalFunction } nested && nested.ContainingSymbol is { } outer)
        {
            symbol = outer;
        }
        return symbol;
    }

    private static bool DerivesFrom(ITypeSymbol? type, ITypeSymbol? baseType)
    {
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(current.OriginalDefinition, baseType?.OriginalDefinition))
            {
                return true;
            }
        }
        return false;
    }
}
