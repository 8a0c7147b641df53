using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers.Flow;

/// <summary>One way a local gets its value.</summary>
internal sealed class LocalWrite(SyntaxNode key, ImmutableArray<IOperation> sources, bool replaces)
{
    /// <summary>The syntax the write is known by, in the operation tree and in the control flow graph alike.</summary>
    public SyntaxNode Key { get; } = key;

    /// <summary>What the local holds after it: the value assigned, the sequence a <c>foreach</c> walks, what <c>Add</c> puts in; empty when not known.</summary>
    public ImmutableArray<IOperation> Sources { get; } = sources;

    /// <summary>True when the local holds only this afterwards; false when it adds to what was there (<c>list.Add(x)</c>, <c>x ??= y</c>).</summary>
    public bool Replaces { get; } = replaces;
}

/// <summary>
/// Which writes of a local reach a use of it. A local assigned once holds what that assignment gave it; a local assigned
/// several times is resolved on Roslyn's control flow graph of the method (reaching definitions), so that
/// <c>var ps = vae.parameters(); ps = TrainableParameters(); optim.Adam(ps)</c> holds only the trainable parameters, while
/// an assignment on one branch of an <c>if</c> still reaches. The writes of a method and its graph are found once.
/// </summary>
internal static class LocalFlow
{
    /// <summary>Methods that add to a collection (a <c>List</c>, TorchSharp's <c>ModuleList</c>) the local holds.</summary>
    private static readonly ImmutableHashSet<string> Mutators = ImmutableHashSet.Create("Add", "AddRange", "Insert", "InsertRange", "Push", "Enqueue", "append", "extend");

    private static readonly ConditionalWeakTable<IOperation, BodyWrites> Bodies = new();

    /// <summary>Every write of the local <paramref name="reference"/> reads, anywhere in its method.</summary>
    public static IReadOnlyList<LocalWrite> Writes(ILocalReferenceOperation reference) => BodyOf(reference).Of(reference.Local);

    /// <summary>The writes of the local that may have given it the value <paramref name="use"/> reads.</summary>
    public static IReadOnlyList<LocalWrite> ReachingWrites(ILocalReferenceOperation use, CancellationToken cancellationToken)
    {
        var body = BodyOf(use);
        var writes = body.Of(use.Local);
        if (writes.Count(w => w.Replaces) <= 1)
        {
            return writes;
        }
        return body.Reaching(use, writes, cancellationToken) ?? writes;
    }

    private static BodyWrites BodyOf(IOperation operation)
    {
        while (operation.Parent is { } parent)
        {
            operation = parent;
        }
        return Bodies.GetValue(operation, root => new BodyWrites(root));
    }

    /// <summary>Every write of every local in one method body, and its control flow graphs when a question needs them.</summary>
    private sealed class BodyWrites
    {
        private readonly IOperation root;
        private readonly Dictionary<ILocalSymbol, List<LocalWrite>> writes = new(SymbolEqualityComparer.Default);
        private readonly Lazy<ImmutableArray<ControlFlowGraph>> graphs;

        public BodyWrites(IOperation root)
        {
            this.root = root;
            foreach (var operation in root.DescendantsAndSelf())
            {
                Collect(operation);
            }
            graphs = new Lazy<ImmutableArray<ControlFlowGraph>>(Graphs, LazyThreadSafetyMode.ExecutionAndPublication);
        }

        public IReadOnlyList<LocalWrite> Of(ILocalSymbol local) => writes.TryGetValue(local, out var list) ? list : (IReadOnlyList<LocalWrite>)Array.Empty<LocalWrite>();

        private void Collect(IOperation operation)
        {
            switch (operation)
            {
                case IVariableDeclaratorOperation { Initializer.Value: { } value } declarator:
                    Add(declarator.Symbol, declarator.Syntax, value, replaces: true);
                    break;
                case ISimpleAssignmentOperation { Target: ILocalReferenceOperation target } assignment:
                    Add(target.Local, assignment.Syntax, assignment.Value, replaces: true);
                    break;
                case ICompoundAssignmentOperation { Target: ILocalReferenceOperation target } compound:
                    Add(target.Local, compound.Syntax, compound.Value, replaces: false);
                    break;
                case ICoalesceAssignmentOperation { Target: ILocalReferenceOperation target } coalesce:
                    Add(target.Local, coalesce.Syntax, coalesce.Value, replaces: false);
                    break;
                case IForEachLoopOperation loop:
                    // Each element is a value of the sequence: the local holds what the sequence holds.
                    foreach (var local in loop.Locals)
                    {
                        Add(local, loop.Syntax, loop.Collection, replaces: true);
                    }
                    break;
                case IDeconstructionAssignmentOperation deconstruction when deconstruction.Parent is not IForEachLoopOperation:
                    foreach (var target in deconstruction.Target.DescendantsAndSelf().OfType<ILocalReferenceOperation>())
                    {
                        Add(target.Local, deconstruction.Syntax, null, replaces: true);
                    }
                    break;
                case IDeclarationPatternOperation { DeclaredSymbol: ILocalSymbol local } pattern:
                    Add(local, pattern.Syntax, PatternInput(pattern), replaces: true);
                    break;
                case IArgumentOperation { Parameter.RefKind: RefKind.Out or RefKind.Ref } argument:
                    foreach (var target in argument.Value.DescendantsAndSelf().OfType<ILocalReferenceOperation>())
                    {
                        Add(target.Local, argument.Syntax, null, replaces: true);
                    }
                    break;
                case IInvocationOperation { Instance: ILocalReferenceOperation target } invocation when Mutators.Contains(invocation.TargetMethod.Name):
                    AddSources(target.Local, invocation.Syntax, invocation.Arguments.Select(a => a.Value).Where(v => v.Type?.SpecialType != SpecialType.System_Int32).ToImmutableArray());
                    break;
            }
        }

        private void Add(ILocalSymbol local, SyntaxNode key, IOperation? value, bool replaces)
        {
            if (!writes.TryGetValue(local, out var list))
            {
                writes[local] = list = new List<LocalWrite>();
            }
            list.Add(new LocalWrite(key, value is null ? ImmutableArray<IOperation>.Empty : ImmutableArray.Create(value), replaces));
        }

        private void AddSources(ILocalSymbol local, SyntaxNode key, ImmutableArray<IOperation> sources)
        {
            if (!writes.TryGetValue(local, out var list))
            {
                writes[local] = list = new List<LocalWrite>();
            }
            list.Add(new LocalWrite(key, sources, replaces: false));
        }

        /// <summary>The value a declaration pattern tests (<c>m is Captioner c</c>), when the pattern tests it directly.</summary>
        private static IOperation? PatternInput(IDeclarationPatternOperation pattern) => pattern.Parent switch
        {
            IIsPatternOperation isPattern => isPattern.Value,
            ISwitchExpressionArmOperation { Parent: ISwitchExpressionOperation switchExpression } => switchExpression.Value,
            IPatternCaseClauseOperation { Parent: ISwitchCaseOperation { Parent: ISwitchOperation switchStatement } } => switchStatement.Value,
            _ => null,
        };

        /// <summary>The writes that reach <paramref name="use"/> on the control flow graph, or <see langword="null"/> when the graph cannot say.</summary>
        public IReadOnlyList<LocalWrite>? Reaching(ILocalReferenceOperation use, IReadOnlyList<LocalWrite> localWrites, CancellationToken cancellationToken)
        {
            if (localWrites.Count > 63)
            {
                return null;
            }
            foreach (var graph in graphs.Value)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (new ReachingDefinitions(graph, use, localWrites).Run() is { } reaching)
                {
                    return reaching;
                }
            }
            return null;
        }

        /// <summary>The method's graph and those of its lambdas and local functions.</summary>
        private ImmutableArray<ControlFlowGraph> Graphs()
        {
            ControlFlowGraph? graph;
            try
            {
                graph = root switch
                {
                    IMethodBodyOperation method => ControlFlowGraph.Create(method),
                    IConstructorBodyOperation constructor => ControlFlowGraph.Create(constructor),
                    IBlockOperation block => ControlFlowGraph.Create(block),
                    IFieldInitializerOperation field => ControlFlowGraph.Create(field),
                    IPropertyInitializerOperation property => ControlFlowGraph.Create(property),
                    _ => null,
                };
            }
            catch (ArgumentException)
            {
                graph = null;
            }
            var all = ImmutableArray.CreateBuilder<ControlFlowGraph>();
            var pending = new Queue<ControlFlowGraph>();
            if (graph is not null)
            {
                pending.Enqueue(graph);
            }
            while (pending.Count > 0)
            {
                var current = pending.Dequeue();
                all.Add(current);
                foreach (var function in current.LocalFunctions)
                {
                    pending.Enqueue(current.GetLocalFunctionControlFlowGraph(function));
                }
                foreach (var block in current.Blocks)
                {
                    foreach (var lambda in block.Operations.Concat(block.BranchValue is null ? Enumerable.Empty<IOperation>() : new[] { block.BranchValue })
                        .SelectMany(o => o.DescendantsAndSelf()).OfType<IFlowAnonymousFunctionOperation>())
                    {
                        pending.Enqueue(current.GetAnonymousFunctionControlFlowGraph(lambda));
                    }
                }
            }
            return all.ToImmutable();
        }
    }

    /// <summary>Reaching definitions of one local at one use, on one graph: bit i stands for the local's i-th write.</summary>
    private sealed class ReachingDefinitions(ControlFlowGraph graph, ILocalReferenceOperation use, IReadOnlyList<LocalWrite> writes)
    {
        private readonly Dictionary<SyntaxNode, int> byKey = writes.Select((w, i) => (w.Key, i)).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().i);

        /// <summary>The writes reaching the use, or <see langword="null"/> when the use is not in this graph, or is a captured local read in a lambda.</summary>
        public IReadOnlyList<LocalWrite>? Run()
        {
            var blocks = graph.Blocks;
            var useBlock = blocks.FirstOrDefault(b => Flatten(b).Any(IsUse));
            if (useBlock is null)
            {
                return null;
            }
            if (!Declares(graph.Root, use.Local))
            {
                // Read inside a lambda or local function: it may run after any write.
                return writes;
            }
            var all = writes.Count == 64 ? ulong.MaxValue : (1UL << writes.Count) - 1;
            var outside = 0UL;
            for (var i = 0; i < writes.Count; i++)
            {
                if (!blocks.Any(b => Flatten(b).Any(o => WriteIndex(o) == i)))
                {
                    // Written in a lambda or local function, which may run at any time.
                    outside |= 1UL << i;
                }
            }
            var output = new ulong[blocks.Length];
            var changed = true;
            var rounds = 0;
            while (changed && rounds++ < 4 * blocks.Length + 8)
            {
                changed = false;
                foreach (var block in blocks)
                {
                    var state = In(block, output, all);
                    foreach (var operation in Flatten(block))
                    {
                        state = Transfer(operation, state);
                    }
                    if (output[block.Ordinal] != state)
                    {
                        output[block.Ordinal] = state;
                        changed = true;
                    }
                }
            }
            var atUse = In(useBlock, output, all);
            var reaching = 0UL;
            foreach (var operation in Flatten(useBlock))
            {
                if (IsUse(operation))
                {
                    reaching |= atUse;
                }
                atUse = Transfer(operation, atUse);
            }
            reaching |= outside;
            return writes.Where((_, i) => (reaching & (1UL << i)) != 0).ToArray();
        }

        private static ulong In(BasicBlock block, ulong[] output, ulong all)
        {
            if (block.Kind == BasicBlockKind.Entry)
            {
                return 0;
            }
            if (block.Predecessors.IsEmpty)
            {
                // The start of a catch or finally, or unreachable code: anything written before may reach it.
                return all;
            }
            var state = 0UL;
            foreach (var predecessor in block.Predecessors)
            {
                state |= output[predecessor.Source.Ordinal];
            }
            return state;
        }

        private ulong Transfer(IOperation operation, ulong state)
        {
            var index = WriteIndex(operation);
            if (index < 0)
            {
                return state;
            }
            return writes[index].Replaces ? 1UL << index : state | 1UL << index;
        }

        private bool IsUse(IOperation operation)
            => operation is ILocalReferenceOperation reference && reference.Syntax == use.Syntax && SymbolEqualityComparer.Default.Equals(reference.Local, use.Local);

        /// <summary>The write of the local this graph operation is, or -1.</summary>
        private int WriteIndex(IOperation operation)
        {
            var writesLocal = operation switch
            {
                ISimpleAssignmentOperation { Target: ILocalReferenceOperation target } => IsLocal(target),
                ICompoundAssignmentOperation { Target: ILocalReferenceOperation target } => IsLocal(target),
                ICoalesceAssignmentOperation { Target: ILocalReferenceOperation target } => IsLocal(target),
                IDeconstructionAssignmentOperation deconstruction => deconstruction.Target.DescendantsAndSelf().OfType<ILocalReferenceOperation>().Any(IsLocal),
                IDeclarationPatternOperation { DeclaredSymbol: ILocalSymbol local } => SymbolEqualityComparer.Default.Equals(local, use.Local),
                IArgumentOperation { Parameter.RefKind: RefKind.Out or RefKind.Ref } argument => argument.Value.DescendantsAndSelf().OfType<ILocalReferenceOperation>().Any(IsLocal),
                IInvocationOperation { Instance: ILocalReferenceOperation target } invocation => Mutators.Contains(invocation.TargetMethod.Name) && IsLocal(target),
                _ => false,
            };
            if (!writesLocal)
            {
                return -1;
            }
            if (byKey.TryGetValue(operation.Syntax, out var index))
            {
                return index;
            }
            // The graph assigns a foreach variable at the loop's type or designation: the loop is the key.
            var loop = operation.Syntax.Ancestors().FirstOrDefault(a => a is CommonForEachStatementSyntax);
            return loop is not null && byKey.TryGetValue(loop, out index) ? index : -1;
        }

        private bool IsLocal(ILocalReferenceOperation reference) => SymbolEqualityComparer.Default.Equals(reference.Local, use.Local);

        /// <summary>A block's operations in the order they run: each operation after its operands.</summary>
        private static IEnumerable<IOperation> Flatten(BasicBlock block)
        {
            foreach (var operation in block.Operations)
            {
                foreach (var inner in PostOrder(operation))
                {
                    yield return inner;
                }
            }
            if (block.BranchValue is { } branch)
            {
                foreach (var inner in PostOrder(branch))
                {
                    yield return inner;
                }
            }
        }

        private static IEnumerable<IOperation> PostOrder(IOperation operation)
        {
            foreach (var child in operation.ChildOperations)
            {
                foreach (var inner in PostOrder(child))
                {
                    yield return inner;
                }
            }
            yield return operation;
        }

        private static bool Declares(ControlFlowRegion region, ILocalSymbol local)
            => region.Locals.Contains(local, SymbolEqualityComparer.Default) || region.NestedRegions.Any(r => Declares(r, local));
    }
}
