using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers.Flow;

/// <summary>A sink inside a method that a value of one of its parameters reaches: <c>Unfreeze(nn.Module m)</c> sets <c>requires_grad</c> on <c>m.parameters()</c>.</summary>
internal sealed class ParameterSink(Sink sink, FlowValue value, bool inLambda)
{
    /// <summary>The sink, in the method or in one it calls.</summary>
    public Sink Sink { get; } = sink;

    /// <summary>What reaches it, rooted in a parameter of the summarized method (<c>Parameters</c> of <c>m</c>).</summary>
    public FlowValue Value { get; } = value;

    /// <summary>True when the sink is inside a lambda, which may never run.</summary>
    public bool InLambda { get; } = inLambda;

    public int Ordinal => ((ParameterRoot)Value.Root).Parameter.Ordinal;
}

/// <summary>
/// What the compilation's own methods and property getters return, and which sinks their parameters reach, so that values
/// are followed through the calls users write (<c>model.Encoder</c>, a helper that unfreezes the module it is given).
/// Each summary is computed once per compilation and depth; calls are followed at most <see cref="MaxCallDepth"/> deep.
/// </summary>
internal sealed class MethodSummaries
{
    public const int MaxCallDepth = 3;

    private readonly CheckpointSymbols symbols;
    private readonly ConcurrentDictionary<IMethodSymbol, bool> summarizable = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<IMethodSymbol, bool> takesValues = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<FlowValue>>[] returns = NewTables<ImmutableArray<FlowValue>>();
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<ParameterSink>>[] sinks = NewTables<ImmutableArray<ParameterSink>>();
    private readonly ConcurrentDictionary<IFieldSymbol, ImmutableArray<FlowValue>>[] fields = NewFieldTables();

    public MethodSummaries(CheckpointSymbols symbols) => this.symbols = symbols;

    /// <summary>True for a method whose body is in this compilation (a method, a property getter, a local function).</summary>
    public bool CanSummarize(IMethodSymbol method)
        => method.MethodKind is MethodKind.Ordinary or MethodKind.PropertyGet or MethodKind.LocalFunction or MethodKind.ReducedExtension
            // A method of a library (most calls) is told apart before any lookup.
            && SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, symbols.Compilation.Assembly)
            && summarizable.GetOrAdd(Definition(method), symbols.Bodies.HasBody);

    /// <summary>True when a call to the method can hand it something the analyzers follow: a module, a tensor, a sequence, an object.</summary>
    public bool TakesValues(IMethodSymbol method)
        => CanSummarize(method) && takesValues.GetOrAdd(Definition(method), m => m.Parameters.Any(p => MayHold(p.Type)));

    /// <summary>What the method may return, its parameters left as <see cref="ParameterRoot"/>s; empty past the depth bound.</summary>
    public ImmutableArray<FlowValue> Returns(IMethodSymbol method, int depth, CancellationToken cancellationToken)
    {
        if (depth > MaxCallDepth || !CanSummarize(method))
        {
            return ImmutableArray<FlowValue>.Empty;
        }
        return returns[depth].GetOrAdd(Definition(method), m =>
        {
            var body = symbols.Bodies.Body(m, cancellationToken);
            return body is null ? ImmutableArray<FlowValue>.Empty : new ValueTracer(symbols, depth, cancellationToken).TraceReturns(body).ToImmutableArray();
        });
    }

    /// <summary>
    /// What a readonly field of the compilation may hold: its initializer and what its type's constructors assign it
    /// (<c>same = backbone</c>), read on the constructed instance; empty past the depth bound.
    /// </summary>
    public ImmutableArray<FlowValue> FieldValues(IFieldSymbol field, int depth, CancellationToken cancellationToken)
    {
        field = field.OriginalDefinition;
        if (depth > MaxCallDepth || !field.IsReadOnly || field.IsStatic || !SymbolEqualityComparer.Default.Equals(field.ContainingAssembly, symbols.Compilation.Assembly))
        {
            return ImmutableArray<FlowValue>.Empty;
        }
        return fields[depth].GetOrAdd(field, f =>
        {
            var assignments = AssignedValues(f, cancellationToken);
            if (assignments.Count == 0)
            {
                return ImmutableArray<FlowValue>.Empty;
            }
            var tracer = new ValueTracer(symbols, depth, cancellationToken);
            // What a constructor's caller passes is not known here.
            return assignments.SelectMany(tracer.Trace).Where(v => v.Root is not ParameterRoot).ToImmutableArray();
        });
    }

    /// <summary>
    /// The values a field's initializer and its type's constructors assign it, where one may be a pretrained member. Syntax
    /// first, with no symbol asked for: only an assignment that names a member declared with an attribute in the type or a
    /// base type written in source is bound (a field initialized with <c>nn.Linear(16, 4)</c> costs a look at its text).
    /// </summary>
    private List<IOperation> AssignedValues(IFieldSymbol field, CancellationToken cancellationToken)
    {
        var values = new List<IOperation>();
        var declarations = field.ContainingType.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<TypeDeclarationSyntax>().ToArray();
        var initial = field.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is VariableDeclaratorSyntax { Initializer.Value: { } value } ? value : null;
        var assigned = declarations
            .SelectMany(d => d.Members.OfType<ConstructorDeclarationSyntax>())
            .SelectMany(c => c.DescendantNodes().OfType<AssignmentExpressionSyntax>())
            .Where(a => Names(a.Left, field.Name))
            .Select(a => a.Right)
            .ToList();
        var attributed = AttributedMemberNames(field.ContainingType, cancellationToken);
        bool MayNamePretrained(SyntaxNode node) => node.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>().Any(n => attributed.Contains(n.Identifier.ValueText));
        if (!(initial is not null && MayNamePretrained(initial) || assigned.Any(MayNamePretrained)))
        {
            return values;
        }
        // Now the symbols: the names of the members that are [Pretrained] indeed.
        var names = new HashSet<string>();
        for (var type = field.ContainingType; type is not null; type = type.BaseType)
        {
            foreach (var member in symbols.DeclaredPretrained(type))
            {
                names.Add(PretrainedDeclarationRules.MemberName(member));
            }
        }
        bool NamesPretrained(SyntaxNode node) => node.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>().Any(n => names.Contains(n.Identifier.ValueText));
        if (initial is not null && NamesPretrained(initial) && symbols.Bodies.Initializer(field, cancellationToken) is IFieldInitializerOperation { Value: var initialValue })
        {
            values.Add(initialValue);
        }
        foreach (var constructor in field.ContainingType.InstanceConstructors)
        {
            if (constructor.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is not ConstructorDeclarationSyntax declaration
                || !declaration.DescendantNodes().OfType<AssignmentExpressionSyntax>().Any(a => Names(a.Left, field.Name) && NamesPretrained(a.Right))
                || symbols.Bodies.Body(constructor, cancellationToken) is not { } body)
            {
                continue;
            }
            foreach (var assignment in body.DescendantsAndSelf().OfType<ISimpleAssignmentOperation>())
            {
                if (assignment.Target is IFieldReferenceOperation { Instance: IInstanceReferenceOperation } target
                    && SymbolEqualityComparer.Default.Equals(target.Field.OriginalDefinition, field))
                {
                    values.Add(assignment.Value);
                }
            }
        }
        return values;
    }

    /// <summary>The names of the fields and properties declared with an attribute in the type and its base types written in source.</summary>
    private static HashSet<string> AttributedMemberNames(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var names = new HashSet<string>();
        for (INamedTypeSymbol? current = type; current is not null && current.DeclaringSyntaxReferences.Length > 0; current = current.BaseType)
        {
            foreach (var declaration in current.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<TypeDeclarationSyntax>())
            {
                foreach (var member in declaration.Members)
                {
                    switch (member)
                    {
                        case FieldDeclarationSyntax { AttributeLists.Count: > 0 } fieldDeclaration:
                            names.UnionWith(fieldDeclaration.Declaration.Variables.Select(v => v.Identifier.ValueText));
                            break;
                        case PropertyDeclarationSyntax { AttributeLists.Count: > 0 } property:
                            names.Add(property.Identifier.ValueText);
                            break;
                    }
                }
            }
        }
        return names;
    }

    private static bool Names(ExpressionSyntax target, string name) => target switch
    {
        IdentifierNameSyntax identifier => identifier.Identifier.ValueText == name,
        MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax, Name: var member } => member.Identifier.ValueText == name,
        _ => false,
    };

    /// <summary>The sinks the method's parameters reach, in it or in the methods it calls; empty past the depth bound.</summary>
    public ImmutableArray<ParameterSink> ParameterSinks(IMethodSymbol method, int depth, CancellationToken cancellationToken)
    {
        if (depth > MaxCallDepth || !TakesValues(method))
        {
            return ImmutableArray<ParameterSink>.Empty;
        }
        return sinks[depth].GetOrAdd(Definition(method), m => ComputeSinks(m, depth, cancellationToken));
    }

    private ImmutableArray<ParameterSink> ComputeSinks(IMethodSymbol method, int depth, CancellationToken cancellationToken)
    {
        if (symbols.Bodies.Body(method, cancellationToken) is not { } body)
        {
            return ImmutableArray<ParameterSink>.Empty;
        }
        var tracer = new ValueTracer(symbols, depth, cancellationToken);
        var found = new List<ParameterSink>();
        foreach (var operation in body.DescendantsAndSelf())
        {
            if (Sinks.Recognize(operation, symbols) is { } sink)
            {
                foreach (var value in tracer.Trace(sink.Value))
                {
                    if (IsParameterOf(value, method))
                    {
                        found.Add(new ParameterSink(sink, value, InLambda(operation, body)));
                    }
                }
            }
            if (operation is IInvocationOperation invocation)
            {
                foreach (var inner in ParameterSinks(invocation.TargetMethod, depth + 1, cancellationToken))
                {
                    foreach (var argument in invocation.Arguments)
                    {
                        if (argument.Parameter?.Ordinal != inner.Ordinal)
                        {
                            continue;
                        }
                        foreach (var value in tracer.Trace(argument.Value))
                        {
                            if (IsParameterOf(value, method) && inner.Value.Substitute(value) is { } reaching)
                            {
                                found.Add(new ParameterSink(inner.Sink, reaching, inner.InLambda || InLambda(operation, body)));
                            }
                        }
                    }
                }
            }
        }
        return found.ToImmutableArray();
    }

    private static bool IsParameterOf(FlowValue value, IMethodSymbol method)
        => value.Root is ParameterRoot { Parameter.ContainingSymbol: var owner } && SymbolEqualityComparer.Default.Equals(owner, method);

    private static bool InLambda(IOperation operation, IOperation body)
    {
        for (var current = operation.Parent; current is not null && current != body; current = current.Parent)
        {
            if (current is IAnonymousFunctionOperation or ILocalFunctionOperation)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A type whose values may be a module, a model, a tensor, or a sequence of them.</summary>
    private bool MayHold(ITypeSymbol type)
        => type.TypeKind is TypeKind.TypeParameter or TypeKind.Interface
            || type.SpecialType == SpecialType.System_Object
            || symbols.IsModule(type) || symbols.IsTensor(type)
            || type.SpecialType != SpecialType.System_String && type.AllInterfaces.Any(i => i.OriginalDefinition.SpecialType == SpecialType.System_Collections_Generic_IEnumerable_T);

    private static IMethodSymbol Definition(IMethodSymbol method) => (method.ReducedFrom ?? method).OriginalDefinition;

    private static ConcurrentDictionary<IFieldSymbol, ImmutableArray<FlowValue>>[] NewFieldTables()
        => Enumerable.Range(0, MaxCallDepth + 1).Select(_ => new ConcurrentDictionary<IFieldSymbol, ImmutableArray<FlowValue>>(SymbolEqualityComparer.Default)).ToArray();

    private static ConcurrentDictionary<IMethodSymbol, T>[] NewTables<T>()
        => Enumerable.Range(0, MaxCallDepth + 1).Select(_ => new ConcurrentDictionary<IMethodSymbol, T>(SymbolEqualityComparer.Default)).ToArray();
}
