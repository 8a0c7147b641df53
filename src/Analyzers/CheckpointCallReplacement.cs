using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>What CKPT020 and CKPT021 tell their code fix: the generated method that replaces a TorchSharp call.</summary>
internal static class CheckpointCallReplacement
{
    /// <summary>The diagnostic property holding the replacing method's name; absent when no mechanical fix exists.</summary>
    public const string Property = "ReplaceWith";

    /// <summary>
    /// The fix keeps the call's path or stream, written first, as the generated overloads take it; it is offered only
    /// where that is a mechanical change: a path or stream overload, the location written first, and a result nobody uses
    /// (the TorchSharp call returns the module, the generated one does not).
    /// </summary>
    public static ImmutableDictionary<string, string?> For(IInvocationOperation invocation, string replacement)
    {
        var location = invocation.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == 0);
        var mechanical = invocation.Parent is IExpressionStatementOperation
            && location is { ArgumentKind: ArgumentKind.Explicit, Parameter.Type: var type }
            && (type.SpecialType == SpecialType.System_String || type.ToDisplayString() == "System.IO.Stream")
            && location.Syntax is ArgumentSyntax { NameColon: null, Parent: ArgumentListSyntax list } argument
            && list.Arguments.IndexOf(argument) == 0;
        return mechanical
            ? ImmutableDictionary<string, string?>.Empty.Add(Property, replacement)
            : ImmutableDictionary<string, string?>.Empty;
    }

    /// <summary>True for TorchSharp's own <paramref name="name"/> on <c>nn.Module</c> (or an override of it), not a user's method of that name.</summary>
    public static bool IsModuleMethod(IMethodSymbol method, string name, CheckpointSymbols symbols)
    {
        while (method.OverriddenMethod is { } overridden)
        {
            method = overridden;
        }
        return method.Name == name && SymbolEqualityComparer.Default.Equals(method.ContainingType, symbols.Module);
    }
}
