using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using CheckpointGen.Analyzers.Flow;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>What a sink does with the value that reaches it.</summary>
internal enum SinkKind
{
    /// <summary>CKPT011: <c>p.requires_grad = true</c>, <c>p.requires_grad_()</c>, <c>p.with_requires_grad(true)</c>.</summary>
    RequiresGrad,

    /// <summary>CKPT012: the parameters (or parameter groups) an optimizer is created with, or <c>add_param_group</c>.</summary>
    Optimizer,

    /// <summary>CKPT021: TorchSharp's <c>save</c> on the model.</summary>
    Save,

    /// <summary>CKPT020: TorchSharp's <c>load</c> or <c>load_state_dict</c> on the model, with strict loading.</summary>
    StrictLoad,

    /// <summary>CKPT010: <c>FreezePretrained()</c> or <c>LoadPretrained()</c> on the model.</summary>
    Freeze,
}

/// <summary>
/// One operation that does something the analyzers check with a value: the value to follow and what is done with it.
/// </summary>
internal sealed class Sink(SinkKind kind, IOperation? value, IOperation operation, string name, bool replaceable = false)
{
    public SinkKind Kind { get; } = kind;

    /// <summary>The value the sink acts on: the tensor, the parameters, the model.</summary>
    public IOperation? Value { get; } = value;

    /// <summary>The assignment, invocation or argument that is the sink.</summary>
    public IOperation Operation { get; } = operation;

    /// <summary>What it is called in messages: <c>save</c>, <c>load_state_dict</c>, ...</summary>
    public string Name { get; } = name;

    /// <summary>For <see cref="SinkKind.Optimizer"/>: the argument is an optimizer's whole parameter list, which <c>TrainableParameters()</c> can replace.</summary>
    public bool Replaceable { get; } = replaceable;
}

/// <summary>Recognizes sinks: the one definition the analyzers report on and the method summaries follow values into.</summary>
internal static class Sinks
{
    /// <summary>
    /// The sinks an assignment, an invocation or an object creation holds: itself, or the arguments of an optimizer's creation.
    /// The analyzers ask this of the operations they register for, rather than of every argument in the compilation.
    /// </summary>
    public static IEnumerable<Sink> Held(IOperation operation, CheckpointSymbols symbols)
    {
        if (Recognize(operation, symbols) is { } sink)
        {
            yield return sink;
        }
        var arguments = operation switch
        {
            IInvocationOperation invocation when CreatesOptimizer(operation, symbols) => invocation.Arguments,
            IObjectCreationOperation creation when CreatesOptimizer(operation, symbols) => creation.Arguments,
            _ => ImmutableArray<IArgumentOperation>.Empty,
        };
        foreach (var argument in arguments)
        {
            if (FromArgument(argument, symbols) is { } argumentSink)
            {
                yield return argumentSink;
            }
        }
    }

    public static Sink? Recognize(IOperation operation, CheckpointSymbols symbols) => operation switch
    {
        ISimpleAssignmentOperation { Target: IPropertyReferenceOperation { Property.Name: "requires_grad" } property } assignment
            when symbols.IsTensor(property.Property.ContainingType) && IsTrue(assignment.Value)
            => new Sink(SinkKind.RequiresGrad, property.Instance, assignment, "requires_grad"),
        IInvocationOperation invocation => FromInvocation(invocation, symbols),
        IArgumentOperation argument => FromArgument(argument, symbols),
        _ => null,
    };

    private static Sink? FromInvocation(IInvocationOperation invocation, CheckpointSymbols symbols)
    {
        var method = invocation.TargetMethod;
        switch (method.Name)
        {
            case "requires_grad_" or "with_requires_grad" when symbols.IsTensor(method.ContainingType):
                var enable = invocation.Arguments.FirstOrDefault();
                return enable is null || enable.ArgumentKind == ArgumentKind.DefaultValue || IsTrue(enable.Value)
                    ? new Sink(SinkKind.RequiresGrad, invocation.Instance, invocation, method.Name)
                    : null;
            case "save" when IsModuleMethod(method, symbols):
                return new Sink(SinkKind.Save, invocation.Instance, invocation, method.Name);
            case "load" or "load_state_dict" when IsModuleMethod(method, symbols):
                // Omitted means TorchSharp's default, strict; a value that is not a constant is the caller's decision.
                var strict = invocation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "strict");
                return strict is not null && (strict.ArgumentKind == ArgumentKind.DefaultValue || IsTrue(strict.Value)) && !IsFullStateDict(invocation, symbols)
                    ? new Sink(SinkKind.StrictLoad, invocation.Instance, invocation, method.Name)
                    : null;
            case "FreezePretrained" or "LoadPretrained" when IsCheckpointMember(method, symbols):
                return new Sink(SinkKind.Freeze, invocation.Instance ?? invocation.Arguments.FirstOrDefault()?.Value, invocation, method.Name);
            case "add_param_group" when symbols.IsOptimizer(method.ContainingType) && invocation.Arguments.Length > 0:
                return new Sink(SinkKind.Optimizer, invocation.Arguments[0].Value, invocation.Arguments[0], method.Name);
            default:
                return null;
        }
    }

    /// <summary>The parameters (or groups of them) <c>optim.Adam(...)</c> or <c>new Adam(...)</c> is given.</summary>
    private static Sink? FromArgument(IArgumentOperation argument, CheckpointSymbols symbols)
    {
        if (symbols.Optimizer is null || argument.Parameter?.Type is not INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Collections_Generic_IEnumerable_T } sequence)
        {
            return null;
        }
        if (argument.Parent is not { } parent || !CreatesOptimizer(parent, symbols))
        {
            return null;
        }
        // A list of parameter groups would lose its groups' options if TrainableParameters() replaced it.
        var item = sequence.TypeArguments[0];
        var replaceable = symbols.IsParameter(item) || item.IsTupleType;
        return new Sink(SinkKind.Optimizer, argument.Value, argument, argument.Parent is IInvocationOperation invocation ? invocation.TargetMethod.Name : "optimizer", replaceable);
    }

    /// <summary><c>load_state_dict(other.state_dict())</c>: a copy of a whole module's state, pretrained keys included, which loads strictly.</summary>
    private static bool IsFullStateDict(IInvocationOperation invocation, CheckpointSymbols symbols)
        => invocation.TargetMethod.Name == "load_state_dict" && invocation.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == 0)?.Value is var dictionary
            && Unconverted(dictionary) is IInvocationOperation { TargetMethod.Name: "state_dict", Instance: { } source } && symbols.IsModule(source.Type);

    private static IOperation? Unconverted(IOperation? operation)
    {
        while (operation is IConversionOperation conversion)
        {
            operation = conversion.Operand;
        }
        return operation;
    }

    /// <summary><c>torch.optim.Adam(...)</c> and the other factories of <c>torch.optim</c>, or <c>new Adam(...)</c>.</summary>
    private static bool CreatesOptimizer(IOperation operation, CheckpointSymbols symbols) => operation switch
    {
        IInvocationOperation { TargetMethod: var factory } => factory.IsStatic && SymbolEqualityComparer.Default.Equals(factory.ContainingType, symbols.Optim) && symbols.IsOptimizer(factory.ReturnType),
        IObjectCreationOperation { Type: var created } => symbols.IsOptimizer(created),
        _ => false,
    };

    /// <summary>
    /// False when the <c>skip</c> list of a <c>save</c> or <c>load</c> may leave out some of the model's pretrained keys:
    /// a list of constants none of which is under a pretrained prefix leaves them all in; anything else may not.
    /// </summary>
    public static bool SkipsNoPretrainedKey(IOperation sinkOperation, ModelFacts model)
    {
        if (sinkOperation is not IInvocationOperation invocation
            || invocation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "skip") is not { } skip
            || skip.ArgumentKind == ArgumentKind.DefaultValue)
        {
            return true;
        }
        return Constants(skip.Value) is { } keys && !keys.Any(key => model.Parts.Any(part => key.StartsWith(part.Prefix, System.StringComparison.Ordinal)));
    }

    /// <summary>The strings of a constant list (<c>null</c>, <c>new[] { "a" }</c>, <c>["a"]</c>, <c>new List&lt;string&gt; { "a" }</c>), or <see langword="null"/>.</summary>
    private static List<string>? Constants(IOperation value)
    {
        value = Unconverted(value)!;
        IEnumerable<IOperation>? elements = value switch
        {
            { ConstantValue: { HasValue: true, Value: null } } or IDefaultValueOperation => Enumerable.Empty<IOperation>(),
            IArrayCreationOperation { Initializer: { } initializer } => initializer.ElementValues,
            IObjectCreationOperation { Initializer: { } initializer, Arguments.Length: 0 } => initializer.Initializers.Select(i => i is IInvocationOperation { Arguments.Length: 1 } add ? add.Arguments[0].Value : i),
            _ when value.Syntax is CollectionExpressionSyntax => value.ChildOperations,
            _ => null,
        };
        if (elements is null)
        {
            return null;
        }
        var keys = new List<string>();
        foreach (var element in elements)
        {
            if (element.ConstantValue is not { HasValue: true, Value: string key })
            {
                return null;
            }
            keys.Add(key);
        }
        return keys;
    }

    /// <summary>True for TorchSharp's own <paramref name="method"/> on <c>nn.Module</c> (or an override of it), not a user's method of that name.</summary>
    private static bool IsModuleMethod(IMethodSymbol method, CheckpointSymbols symbols)
    {
        while (method.OverriddenMethod is { } overridden)
        {
            method = overridden;
        }
        return SymbolEqualityComparer.Default.Equals(method.ContainingType, symbols.Module);
    }

    /// <summary>
    /// A generated member or a runtime extension (<c>LoadPretrained(options)</c>), not a user's method of that name. The
    /// cheap questions first: a type that declares [Pretrained] members is where the generator writes them.
    /// </summary>
    private static bool IsCheckpointMember(IMethodSymbol method, CheckpointSymbols symbols)
        => method.ContainingType is { } type
            && (type.Name == "CheckpointExtensions" && type.ContainingNamespace?.Name == "CheckpointGen"
                || !symbols.DeclaredPretrained(type).IsEmpty
                || symbols.HasCheckpointMembers(type));

    private static bool IsTrue(IOperation value) => value.ConstantValue is { HasValue: true, Value: true };
}
