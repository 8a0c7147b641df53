using System.Collections.Immutable;
using System.Linq;
using CheckpointGen.Analyzers.Flow;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>What CKPT020 and CKPT021 say to use instead of a TorchSharp call, and tell their code fix.</summary>
internal static class CheckpointCallReplacement
{
    /// <summary>The diagnostic property holding the replacing method's name; absent when no mechanical fix exists.</summary>
    public const string Property = "ReplaceWith";

    /// <summary>Present when the call has no receiver of its own (<c>save(path)</c> inside the model): the fix writes <c>this.</c>, since the replacement is an extension method.</summary>
    public const string QualifyProperty = "QualifyWithThis";

    /// <summary>
    /// The replacement the message names, and the fix's properties. <c>model.SaveCheckpoint(...)</c> where the receiver's type
    /// has the generated members; otherwise the message says how to reach them (the model a base-typed variable holds, or a
    /// <c>CheckpointPolicy</c> for an enclosing model without generated members of its own) and there is no fix.
    /// </summary>
    public static (string Remedy, ImmutableDictionary<string, string?> Properties) For(IInvocationOperation invocation, FlowValue value, string replacement, CheckpointSymbols symbols)
    {
        var model = (ModelRoot)value.Root;
        var receiver = invocation.Instance;
        // 'base' is typed as the base class, but it is the model itself.
        if (symbols.HasCheckpointMembers(receiver is IInstanceReferenceOperation ? model.Type : receiver?.Type))
        {
            var properties = ImmutableDictionary<string, string?>.Empty;
            if (IsMechanical(invocation))
            {
                properties = properties.Add(Property, replacement);
                if (receiver is IInstanceReferenceOperation { IsImplicit: true })
                {
                    properties = properties.Add(QualifyProperty, "true");
                }
            }
            return ($"{replacement}(...)", properties);
        }
        return model.Facts.HasCheckpointMembers
            ? ($"{replacement}(...) on the '{model.Type.Name}' it holds", ImmutableDictionary<string, string?>.Empty)
            : (Policy(value, receiver, replacement), ImmutableDictionary<string, string?>.Empty);
    }

    /// <summary>The replacement for a model reached through a call, where no fix applies.</summary>
    public static string InCall(FlowValue value, IOperation argument, string replacement)
        => ((ModelRoot)value.Root).Facts.HasCheckpointMembers ? $"{replacement}(...)" : Policy(value, argument, replacement);

    private static string Policy(FlowValue value, IOperation? receiver, string replacement)
        => $"new CheckpointPolicy({ModelReceiver.Text(receiver) ?? "model"}).{replacement}(...) ('{((ModelRoot)value.Root).Type.Name}' has no generated members)";

    /// <summary>
    /// The fix keeps the call's path or stream, written first, as the generated overloads take it; it is offered only
    /// where that is a mechanical change: a path or stream overload, the location written first, and a result nobody uses
    /// (the TorchSharp call returns the module, the generated one does not).
    /// </summary>
    private static bool IsMechanical(IInvocationOperation invocation)
    {
        var location = invocation.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == 0);
        return invocation.Parent is IExpressionStatementOperation
            && location is { ArgumentKind: ArgumentKind.Explicit, Parameter.Type: var type }
            && (type.SpecialType == SpecialType.System_String || type.ToDisplayString() == "System.IO.Stream")
            && location.Syntax is ArgumentSyntax { NameColon: null, Parent: ArgumentListSyntax list } argument
            && list.Arguments.IndexOf(argument) == 0;
    }
}
