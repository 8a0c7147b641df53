using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>What CKPT020 and CKPT021 tell their code fix: the generated method that replaces a TorchSharp call.</summary>
internal static class CheckpointCallReplacement
{
    /// <summary>The diagnostic property holding the replacing method's name; absent when no mechanical fix exists.</summary>
    public const string Property = "ReplaceWith";

    /// <summary>The replacement takes the call's first argument when it is a path or a stream, as the generated overloads do.</summary>
    public static ImmutableDictionary<string, string?> For(IInvocationOperation invocation, string replacement)
    {
        var takesPathOrStream = invocation.Arguments.Length > 0
            && invocation.TargetMethod.Parameters[0].Type is { } first
            && (first.SpecialType == SpecialType.System_String || first.ToDisplayString() == "System.IO.Stream");
        return takesPathOrStream
            ? ImmutableDictionary<string, string?>.Empty.Add(Property, replacement)
            : ImmutableDictionary<string, string?>.Empty;
    }
}
