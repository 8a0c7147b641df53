using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers.Flow;

/// <summary>
/// Follows a value back to where it comes from, the way users write it: locals (only the assignments that reach the use),
/// conversions and conditionals, fields and properties of modules (<c>vae.stem.weight</c>), TorchSharp's module API
/// (<c>parameters()</c>, <c>named_parameters()</c>, <c>children()</c>, ...), collections and System.Linq (both sides of a
/// <c>Concat</c>), lambdas, <c>foreach</c> and pattern variables, and the compilation's own methods and properties (what
/// they return, with their parameters bound to the call's arguments), a bounded number of calls deep. What it cannot
/// follow (a value computed by a method of a library, <c>p.detach().clone()</c>, an <c>out</c> argument) holds nothing.
/// </summary>
internal sealed class ValueTracer
{
    /// <summary>How many operations one value is followed through.</summary>
    private const int MaxDepth = 32;

    private static readonly ImmutableHashSet<string> SequenceCombiners = ImmutableHashSet.Create("Concat", "Union", "UnionBy", "Append", "Prepend", "Zip");
    private static readonly ImmutableHashSet<string> SequenceFilters = ImmutableHashSet.Create("Where", "SkipWhile", "TakeWhile", "First", "FirstOrDefault", "Single", "SingleOrDefault", "Last", "LastOrDefault");
    private static readonly ImmutableHashSet<string> ModuleParameters = ImmutableHashSet.Create("parameters", "named_parameters", "get_parameter");
    private static readonly ImmutableHashSet<string> ModuleSubmodules = ImmutableHashSet.Create("children", "named_children", "modules", "named_modules", "get_submodule");
    private static readonly ImmutableHashSet<string> ModuleItself = ImmutableHashSet.Create("to", "_to", "cuda", "cpu", "half", "float", "double", "bfloat16", "type", "apply");
    private static readonly ImmutableHashSet<string> TensorItself = ImmutableHashSet.Create("requires_grad_", "with_requires_grad");

    private readonly CheckpointSymbols symbols;
    private readonly int callDepth;
    private readonly CancellationToken cancellationToken;
    private readonly HashSet<ISymbol> following = new(SymbolEqualityComparer.Default);
    private int depth;

    /// <param name="symbols">The compilation's symbols.</param>
    /// <param name="callDepth">How many calls deep the value already is: methods called from here are summarized one deeper.</param>
    /// <param name="cancellationToken">Cancels the walk.</param>
    public ValueTracer(CheckpointSymbols symbols, int callDepth, CancellationToken cancellationToken)
    {
        this.symbols = symbols;
        this.callDepth = callDepth;
        this.cancellationToken = cancellationToken;
    }

    /// <summary>Everything <paramref name="operation"/> may hold that the analyzers care about; empty when nothing.</summary>
    public List<FlowValue> Trace(IOperation? operation)
    {
        var values = new List<FlowValue>();
        if (operation is null || depth >= MaxDepth)
        {
            return values;
        }
        cancellationToken.ThrowIfCancellationRequested();
        depth++;
        try
        {
            // Whatever the expression, a model is a model: its static type says so (a type parameter's constraint included).
            if (operation.Type is { } type && symbols.Model(type) is { } model)
            {
                Add(values, new FlowValue(Shape.Self, new ModelRoot(type, model), operation));
            }
            Follow(operation, values);
            return values;
        }
        finally
        {
            depth--;
        }
    }

    private void Follow(IOperation operation, List<FlowValue> values)
    {
        switch (operation)
        {
            case IConversionOperation { OperatorMethod: null } conversion:
                AddAll(values, Trace(conversion.Operand));
                break;
            case IConditionalOperation conditional:
                AddAll(values, Trace(conditional.WhenTrue));
                AddAll(values, Trace(conditional.WhenFalse));
                break;
            case ICoalesceOperation coalesce:
                AddAll(values, Trace(coalesce.Value));
                AddAll(values, Trace(coalesce.WhenNull));
                break;
            case ISwitchExpressionOperation switchExpression:
                foreach (var arm in switchExpression.Arms)
                {
                    AddAll(values, Trace(arm.Value));
                }
                break;
            case IConditionalAccessOperation access:
                AddAll(values, Trace(access.WhenNotNull));
                break;
            case IConditionalAccessInstanceOperation instance:
                AddAll(values, Trace(ConditionalAccessed(instance)));
                break;
            case IFieldReferenceOperation field:
                FollowField(field, values);
                break;
            case IPropertyReferenceOperation property:
                FollowProperty(property, values);
                break;
            case IArrayElementReferenceOperation element:
                AddAll(values, Trace(element.ArrayReference));
                break;
            case IInvocationOperation invocation:
                FollowInvocation(invocation, values);
                break;
            case ILocalReferenceOperation local:
                FollowLocal(local, values);
                break;
            case IParameterReferenceOperation parameter:
                FollowParameter(parameter, values);
                break;
            case IArrayCreationOperation { Initializer: { } initializer }:
                AddElements(initializer.ElementValues, values);
                break;
            case IObjectCreationOperation creation:
                FollowCreation(creation, values);
                break;
            case ITupleOperation tuple:
                AddElements(tuple.Elements, values);
                break;
            case IInstanceReferenceOperation { Syntax: BaseExpressionSyntax } baseReference
                when baseReference.SemanticModel?.GetEnclosingSymbol(baseReference.Syntax.SpanStart, cancellationToken)?.ContainingType is { } self
                    && symbols.Model(self) is { } model:
                // base.save(path): the instance is the model itself.
                Add(values, new FlowValue(Shape.Self, new ModelRoot(self, model), baseReference));
                break;
            default:
                // [.. a, .. b] and [a, b]: Roslyn 4.8 has no operation interface for collection expressions; their children are the elements.
                if (operation.Syntax is CollectionExpressionSyntax)
                {
                    foreach (var element in operation.ChildOperations)
                    {
                        AddAll(values, element.Syntax is SpreadElementSyntax ? TraceChildren(element) : Trace(element));
                    }
                }
                break;
        }
    }

    private void FollowField(IFieldReferenceOperation reference, List<FlowValue> values)
    {
        var field = reference.Field;
        if (symbols.IsAdapter(field))
        {
            // An [Adapter] trains inside its pretrained part: what is reached through it is not pretrained.
            return;
        }
        if (symbols.IsPretrained(field))
        {
            Add(values, new FlowValue(Shape.Self, new PretrainedRoot(field.OriginalDefinition), reference.Instance));
        }
        else if (field.ContainingType?.IsTupleType == true)
        {
            // np.parameter of named_parameters(): an element of what the tuple came from.
            AddAll(values, Trace(reference.Instance));
        }
        else if (!field.IsStatic)
        {
            AddMemberOf(reference.Instance, field.Type, values);
            if (field.IsReadOnly && symbols.IsModule(field.Type))
            {
                // A readonly field assigned the pretrained module in a constructor (same = backbone), read on the same kind of instance.
                foreach (var value in symbols.Summaries.FieldValues(field, callDepth + 1, cancellationToken))
                {
                    Add(values, value.Owner is IInstanceReferenceOperation ? value.WithOwner(reference.Instance) : value.WithOwner(null));
                }
            }
        }
    }

    private void FollowProperty(IPropertyReferenceOperation reference, List<FlowValue> values)
    {
        var property = reference.Property;
        if (symbols.AdapterMember(reference) is not null)
        {
            // vae.Adapter.weight: an adapter's parameters train inside the pretrained part.
            return;
        }
        if (symbols.PretrainedBackingField(property.OriginalDefinition) is { } member)
        {
            Add(values, new FlowValue(Shape.Self, new PretrainedRoot(member), reference.Instance));
        }
        else if (property.GetMethod is { } getter && symbols.Summaries.CanSummarize(getter))
        {
            // model.Encoder, where the property returns the field.
            AddReturns(getter, reference.Instance, reference.Arguments, values);
        }
        else if (!property.IsStatic)
        {
            AddMemberOf(reference.Instance, property.Type, values);
        }
    }

    /// <summary>
    /// A member read on a value: on a module, a module-typed member is a submodule and a tensor-typed one a parameter of it
    /// (<c>vae.stem</c>, <c>vae.weight</c>); on anything else (a list, an array) it is an element of what the value holds.
    /// </summary>
    private void AddMemberOf(IOperation? instance, ITypeSymbol memberType, List<FlowValue> values)
    {
        // 'this' is at most the model itself, and a member of a model is not pretrained for being one: nothing to follow.
        if (instance is null or IInstanceReferenceOperation)
        {
            return;
        }
        var onModule = symbols.IsModule(instance.Type);
        foreach (var value in Trace(instance))
        {
            if (!onModule)
            {
                Add(values, value);
            }
            else if (symbols.IsModule(memberType) || IsSequenceOf(memberType, symbols.IsModule))
            {
                AddIfAny(values, value.Submodule());
            }
            else if (symbols.IsTensor(memberType) || IsSequenceOf(memberType, symbols.IsTensor))
            {
                AddIfAny(values, value.MemberParameters());
            }
        }
    }

    private void FollowInvocation(IInvocationOperation invocation, List<FlowValue> values)
    {
        var method = invocation.TargetMethod;
        if (symbols.IsModule(method.ContainingType) && invocation.Instance is { } module)
        {
            if (ModuleParameters.Contains(method.Name))
            {
                foreach (var value in Trace(module))
                {
                    AddIfAny(values, value.Parameters());
                }
                return;
            }
            if (ModuleSubmodules.Contains(method.Name))
            {
                foreach (var value in Trace(module))
                {
                    AddIfAny(values, method.Name == "get_submodule" ? value.Submodule() : value.AllSubmodules());
                }
                return;
            }
            if (ModuleItself.Contains(method.Name))
            {
                AddAll(values, Trace(module));
                return;
            }
        }
        if (TensorItself.Contains(method.Name) && symbols.IsTensor(method.ContainingType))
        {
            // p.requires_grad_(false) returns p itself; detach(), clone() and arithmetic make new tensors.
            AddAll(values, Trace(invocation.Instance));
            return;
        }
        if (symbols.Enumerable is { } enumerable && SymbolEqualityComparer.Default.Equals(method.ContainingType, enumerable))
        {
            FollowLinq(invocation, values);
            return;
        }
        if (symbols.Summaries.CanSummarize(method))
        {
            AddReturns(method, invocation.Instance, invocation.Arguments, values);
            return;
        }
        if (invocation.Instance is { } collection && IsCollectionMethod(method))
        {
            // list.ToArray(), list.GetRange(...), dictionary.Values...: what the collection holds.
            AddAll(values, Trace(collection));
        }
    }

    /// <summary>
    /// System.Linq: a selector's results (<c>Select(np => np.parameter)</c>); both sides of <c>Concat</c>, <c>Union</c>,
    /// <c>Append</c>...; the source for everything else (<c>Where</c>, <c>ToList</c>, <c>First</c>, <c>Except</c>...).
    /// A filter that reads <c>PretrainedPrefixes</c>, and an <c>Except</c> of every pretrained part's parameters, are taken
    /// to leave a model's pretrained parameters out.
    /// </summary>
    private void FollowLinq(IInvocationOperation invocation, List<FlowValue> values)
    {
        var arguments = invocation.Arguments;
        if (arguments.Length == 0)
        {
            return;
        }
        var selectors = arguments.Select(a => Lambda(a.Value)).Where(l => l is not null && l.Symbol.Parameters.Length > 0 && l.Symbol.ReturnsVoid is false && IsSelector(invocation.TargetMethod.Name)).ToArray();
        if (selectors.Length > 0)
        {
            foreach (var selector in selectors)
            {
                AddAll(values, TraceReturns(selector!.Body));
            }
            return;
        }
        var sources = SequenceCombiners.Contains(invocation.TargetMethod.Name)
            ? arguments.Where(a => Lambda(a.Value) is null).Select(a => a.Value)
            : new[] { arguments[0].Value };
        var filtersPretrained = SequenceFilters.Contains(invocation.TargetMethod.Name)
                && arguments.Any(a => Lambda(a.Value) is { } predicate && ReadsPretrainedPrefixes(predicate))
            || invocation.TargetMethod.Name == "Except" && arguments.Length > 1 && Trace(arguments[1].Value) is var excluded
                && sources.SelectMany(Trace).Where(v => v.Root is ModelRoot).All(v => ((ModelRoot)v.Root).Facts.Parts.All(part => excluded.Any(e => e.Shape == Shape.Parameters && SymbolEqualityComparer.Default.Equals(e.Root.Symbol, part.Member))));
        foreach (var source in sources)
        {
            foreach (var value in Trace(source))
            {
                if (!(filtersPretrained && value.Root is ModelRoot))
                {
                    Add(values, value);
                }
            }
        }
    }

    private static bool IsSelector(string name) => name is "Select" or "SelectMany" or "Zip" or "ToDictionary" or "ToLookup" or "GroupBy";

    private static bool ReadsPretrainedPrefixes(IAnonymousFunctionOperation predicate)
        => predicate.Body.Descendants().Any(o => o is IPropertyReferenceOperation { Property.Name: "PretrainedPrefixes" } or IInvocationOperation { TargetMethod.Name: "TrainableParameters" });

    private void FollowCreation(IObjectCreationOperation creation, List<FlowValue> values)
    {
        // new List<Parameter>(vae.parameters()) { head.weight }, new Adam.ParamGroup(vae.parameters(), ...): containers of what they are given.
        if (!symbols.IsParamGroup(creation.Type) && !IsCollection(creation.Type))
        {
            return;
        }
        foreach (var argument in creation.Arguments)
        {
            AddAll(values, Trace(argument.Value));
        }
        if (creation.Initializer is { } initializer)
        {
            foreach (var initialized in initializer.Initializers)
            {
                AddAll(values, initialized switch
                {
                    IInvocationOperation add => add.Arguments.SelectMany(a => Trace(a.Value)).ToList(),
                    ISimpleAssignmentOperation assignment => Trace(assignment.Value),
                    _ => new List<FlowValue>(),
                });
            }
        }
    }

    private void FollowLocal(ILocalReferenceOperation reference, List<FlowValue> values)
    {
        var local = reference.Local;
        if (!following.Add(local))
        {
            // A local assigned from itself (ps = ps.Concat(...)): its other assignments say what it holds.
            return;
        }
        try
        {
            foreach (var write in LocalFlow.ReachingWrites(reference, cancellationToken))
            {
                foreach (var source in write.Sources)
                {
                    AddAll(values, Trace(source));
                }
            }
        }
        finally
        {
            following.Remove(local);
        }
    }

    private void FollowParameter(IParameterReferenceOperation reference, List<FlowValue> values)
    {
        var parameter = reference.Parameter;
        if (parameter.ContainingSymbol is IMethodSymbol { MethodKind: MethodKind.LambdaMethod } && LambdaSource(reference) is { } source)
        {
            // xs.ForEach(p => ...), xs.Where(p => ...): the lambda's first parameter walks the sequence.
            if (parameter.Ordinal == 0 && following.Add(parameter))
            {
                try
                {
                    AddAll(values, Trace(source));
                }
                finally
                {
                    following.Remove(parameter);
                }
            }
            return;
        }
        if (parameter.RefKind is RefKind.None or RefKind.In)
        {
            Add(values, new FlowValue(Shape.Self, new ParameterRoot(parameter.OriginalDefinition), reference));
        }
    }

    /// <summary>What a summarized method or property getter returns, its parameters bound to the call's arguments.</summary>
    private void AddReturns(IMethodSymbol method, IOperation? instance, ImmutableArray<IArgumentOperation> arguments, List<FlowValue> values)
    {
        foreach (var returned in symbols.Summaries.Returns(method, callDepth + 1, cancellationToken))
        {
            switch (returned.Root)
            {
                case ParameterRoot { Parameter: var parameter }:
                    foreach (var argument in arguments)
                    {
                        if (argument.Parameter?.Ordinal == parameter.Ordinal)
                        {
                            foreach (var value in Trace(argument.Value))
                            {
                                AddIfAny(values, returned.Substitute(value));
                            }
                        }
                    }
                    break;
                default:
                    // A member read on the callee's 'this' is read on the call's receiver.
                    Add(values, returned.Owner is IInstanceReferenceOperation ? returned.WithOwner(instance) : returned.WithOwner(null));
                    break;
            }
        }
    }

    /// <summary>What the returns of a method body or lambda may hold (nested lambdas and local functions return for themselves).</summary>
    public List<FlowValue> TraceReturns(IOperation? body)
    {
        var values = new List<FlowValue>();
        foreach (var returned in Returns(body))
        {
            AddAll(values, Trace(returned));
        }
        return values;
    }

    private static IEnumerable<IOperation> Returns(IOperation? body)
    {
        if (body is null)
        {
            yield break;
        }
        var pending = new Stack<IOperation>();
        pending.Push(body);
        while (pending.Count > 0)
        {
            var operation = pending.Pop();
            if (operation is IReturnOperation { ReturnedValue: { } value })
            {
                yield return value;
                continue;
            }
            foreach (var child in operation.ChildOperations)
            {
                if (child is not (IAnonymousFunctionOperation or ILocalFunctionOperation))
                {
                    pending.Push(child);
                }
            }
        }
    }

    private List<FlowValue> TraceChildren(IOperation operation)
    {
        var values = new List<FlowValue>();
        foreach (var child in operation.ChildOperations)
        {
            AddAll(values, Trace(child));
        }
        return values;
    }

    private void AddElements(ImmutableArray<IOperation> elements, List<FlowValue> values)
    {
        foreach (var element in elements)
        {
            AddAll(values, Trace(element));
        }
    }

    /// <summary>The lambda an argument passes, if it is one.</summary>
    private static IAnonymousFunctionOperation? Lambda(IOperation? value) => value switch
    {
        IDelegateCreationOperation { Target: IAnonymousFunctionOperation lambda } => lambda,
        IAnonymousFunctionOperation lambda => lambda,
        IConversionOperation conversion => Lambda(conversion.Operand),
        _ => null,
    };

    /// <summary>For a lambda passed to a method: the sequence its first parameter walks (the LINQ source, or the list of <c>list.ForEach</c>).</summary>
    private static IOperation? LambdaSource(IParameterReferenceOperation reference)
    {
        for (IOperation? current = reference.Parent; current is not null; current = current.Parent)
        {
            if (current is IAnonymousFunctionOperation lambda && SymbolEqualityComparer.Default.Equals(lambda.Symbol, reference.Parameter.ContainingSymbol))
            {
                var call = lambda.Parent is IDelegateCreationOperation creation ? creation.Parent : lambda.Parent;
                while (call is IConversionOperation)
                {
                    call = call.Parent;
                }
                if (call is not IArgumentOperation { Parent: IInvocationOperation invocation } argument)
                {
                    return null;
                }
                return invocation.Instance
                    ?? (invocation.Arguments.Length > 0 && !ReferenceEquals(invocation.Arguments[0], argument) ? invocation.Arguments[0].Value : null);
            }
        }
        return null;
    }

    /// <summary>The expression a <c>?.</c> reads its member on.</summary>
    private static IOperation? ConditionalAccessed(IConditionalAccessInstanceOperation instance)
    {
        for (var current = instance.Parent; current is not null; current = current.Parent)
        {
            if (current is IConditionalAccessOperation access && access.WhenNotNull.Syntax.Span.Contains(instance.Syntax.Span))
            {
                return access.Operation;
            }
        }
        return null;
    }

    /// <summary>A method of a .NET collection that hands out (some of) its elements.</summary>
    private static bool IsCollectionMethod(IMethodSymbol method)
        => !method.ReturnsVoid && method.ReturnType.SpecialType is not (SpecialType.System_Boolean or SpecialType.System_Int32)
            && method.ContainingNamespace?.ToDisplayString() is "System.Collections.Generic" or "System.Collections.Immutable" or "System.Collections.ObjectModel";

    private static bool IsCollection(ITypeSymbol? type)
        => type is INamedTypeSymbol { SpecialType: SpecialType.None } named
            && named.AllInterfaces.Any(i => i.SpecialType == SpecialType.System_Collections_IEnumerable)
            && named.ContainingNamespace?.ToDisplayString() is "System.Collections.Generic" or "System.Collections.Immutable" or "System.Collections.ObjectModel";

    /// <summary>True for a sequence whose elements (or whose tuples' elements) are of a kind: <c>IEnumerable&lt;(string, Parameter)&gt;</c>.</summary>
    private static bool IsSequenceOf(ITypeSymbol type, System.Func<ITypeSymbol?, bool> element)
    {
        var sequence = type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Collections_Generic_IEnumerable_T } direct
            ? direct
            : type.AllInterfaces.FirstOrDefault(i => i.OriginalDefinition.SpecialType == SpecialType.System_Collections_Generic_IEnumerable_T);
        return sequence?.TypeArguments[0] is { } item
            && (element(item) || item.IsTupleType && item is INamedTypeSymbol tuple && tuple.TupleElements.Any(e => element(e.Type)));
    }

    private static void Add(List<FlowValue> values, FlowValue value)
    {
        foreach (var existing in values)
        {
            if (existing.SameAs(value))
            {
                return;
            }
        }
        values.Add(value);
    }

    private static void AddIfAny(List<FlowValue> values, FlowValue? value)
    {
        if (value is not null)
        {
            Add(values, value);
        }
    }

    private static void AddAll(List<FlowValue> values, List<FlowValue> more)
    {
        foreach (var value in more)
        {
            Add(values, value);
        }
    }
}
