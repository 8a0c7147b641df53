using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// CKPT030: an <c>[Adapter]</c> field that is not an instance field of a module type in a module type. CKPT031: an
/// <c>[Adapter]</c> field that no pretrained part can hold, where the whole compilation says so: in a type with
/// <c>[Pretrained]</c> fields of its own, on a <c>[Pretrained]</c> field, or in a type that no <c>[Pretrained]</c> field
/// of the project can hold and no other assembly can see.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AdapterDeclarationAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.InvalidAdapter,
        DiagnosticDescriptors.AdapterOutsidePretrained);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        if (symbols.Adapter is null)
        {
            return;
        }
        var holdings = new PretrainedHoldings(symbols, start.Compilation);
        var adapters = new ConcurrentBag<IFieldSymbol>();
        start.RegisterSymbolAction(context =>
        {
            var type = (INamedTypeSymbol)context.Symbol;
            holdings.AddType(type);
            // GetMembers includes the backing fields of [field: Adapter] properties.
            foreach (var field in type.GetMembers().OfType<IFieldSymbol>())
            {
                if (!symbols.IsAdapter(field))
                {
                    continue;
                }
                if (Problem(field, symbols) is { } problem)
                {
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InvalidAdapter, field.Locations[0], PretrainedDeclarationRules.MemberName(field), problem));
                }
                else
                {
                    adapters.Add(field);
                }
            }
        }, SymbolKind.NamedType);
        start.RegisterOperationAction(context => holdings.AddCreated(context.ContainingSymbol.ContainingType, context.Operation.Type), OperationKind.ObjectCreation);
        start.RegisterOperationAction(context => holdings.AddCreated(context.ContainingSymbol.ContainingType, ((IInvocationOperation)context.Operation).TargetMethod.ReturnType), OperationKind.Invocation);
        start.RegisterCompilationEndAction(end =>
        {
            foreach (var field in adapters)
            {
                if (Outside(field, symbols, holdings) is { } reason)
                {
                    end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.AdapterOutsidePretrained, field.Locations[0], PretrainedDeclarationRules.MemberName(field), reason));
                }
            }
        });
    }

    /// <summary>What makes the field unusable as an adapter (CKPT030), or <see langword="null"/>.</summary>
    private static string? Problem(IFieldSymbol field, CheckpointSymbols symbols)
        // Roslyn reports a const as static too: const is checked first so that the message names it.
        => field.IsConst ? "is const"
            : field.IsStatic ? "is static"
            : !symbols.IsModule(field.Type) ? $"has type '{field.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}', which is not a torch.nn.Module"
            : !symbols.IsModule(field.ContainingType) ? $"is declared in '{field.ContainingType.Name}', which is not a torch.nn.Module"
            : null;

    /// <summary>Why the field can be inside no pretrained part (CKPT031), or <see langword="null"/> when it can be, or nobody can tell.</summary>
    private static string? Outside(IFieldSymbol field, CheckpointSymbols symbols, PretrainedHoldings holdings)
    {
        var type = field.ContainingType;
        if (symbols.IsPretrained(field))
        {
            return "it is [Pretrained] itself: the frozen part, not a module inside one";
        }
        if (symbols.Rules.PretrainedMembers(type).Any())
        {
            return $"'{type.Name}' has [Pretrained] fields of its own and this field sits beside them";
        }
        return holdings.CanHold(type) ? null : $"no [Pretrained] field of this project holds a '{type.Name}' and no other project can see the type";
    }

    /// <summary>
    /// Which module types the pretrained parts of one compilation can hold: the types of its <c>[Pretrained]</c> members,
    /// then, type by type, the module types of their fields and the module types their code creates. Where a part can
    /// hold modules the compilation cannot see (a <c>Sequential</c>, a module type of another assembly), it can hold any.
    /// </summary>
    private sealed class PretrainedHoldings(CheckpointSymbols symbols, Compilation compilation)
    {
        private readonly ConcurrentDictionary<INamedTypeSymbol, ConcurrentBag<ITypeSymbol>> held = new(SymbolEqualityComparer.Default);
        private readonly ConcurrentBag<ITypeSymbol> roots = [];
        private readonly ConcurrentBag<INamedTypeSymbol> modules = [];
        private readonly object reaching = new();
        private HashSet<INamedTypeSymbol>? reached;
        private bool holdsAnything;

        public void AddType(INamedTypeSymbol type)
        {
            if (symbols.IsModule(type))
            {
                modules.Add(type.OriginalDefinition);
            }
            foreach (var field in type.GetMembers().OfType<IFieldSymbol>().Where(f => !f.IsStatic))
            {
                if (symbols.IsPretrained(field))
                {
                    roots.Add(field.Type);
                }
                AddCreated(type, field.Type);
            }
        }

        public void AddCreated(INamedTypeSymbol? holder, ITypeSymbol? type)
        {
            if (holder is not null && type is not null && ModuleTypes(type).Any())
            {
                held.GetOrAdd(holder.OriginalDefinition, _ => []).Add(type);
            }
        }

        public bool CanHold(INamedTypeSymbol type)
        {
            if (!Closed(type))
            {
                return true;
            }
            lock (reaching)
            {
                reached ??= Reach();
            }
            return holdsAnything || reached.Any(r => PretrainedDeclarationRules.DerivesFrom(r, type.OriginalDefinition));
        }

        /// <summary>Whether no other assembly can use the type: an application's, or one not visible outside its assembly.</summary>
        private bool Closed(INamedTypeSymbol type)
        {
            if (compilation.Options.OutputKind is OutputKind.ConsoleApplication or OutputKind.WindowsApplication or OutputKind.WindowsRuntimeApplication)
            {
                return true;
            }
            var friends = compilation.Assembly.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.Runtime.CompilerServices.InternalsVisibleToAttribute");
            return !friends && PretrainedDeclarationRules.TypeAndContainers(type).Any(t => t.DeclaredAccessibility is Accessibility.Private or Accessibility.Internal or Accessibility.ProtectedAndInternal);
        }

        private HashSet<INamedTypeSymbol> Reach()
        {
            var found = new HashSet<INamedTypeSymbol>(SymbolEqualityComparer.Default);
            var pending = new Queue<INamedTypeSymbol>(roots.SelectMany(ModuleTypes));
            while (pending.Count > 0 && !holdsAnything)
            {
                var type = pending.Dequeue();
                if (!found.Add(type))
                {
                    continue;
                }
                if (Opaque(type))
                {
                    holdsAnything = true;
                    break;
                }
                // What its base types hold it holds; and an instance of a type deriving from it can stand in its place.
                for (var current = type; current is not null; current = current.BaseType)
                {
                    foreach (var heldType in held.TryGetValue(current.OriginalDefinition, out var bag) ? bag : Enumerable.Empty<ITypeSymbol>())
                    {
                        foreach (var module in ModuleTypes(heldType))
                        {
                            pending.Enqueue(module);
                        }
                    }
                }
                foreach (var derived in modules.Where(m => PretrainedDeclarationRules.DerivesFrom(m, type)))
                {
                    pending.Enqueue(derived);
                }
            }
            return found;
        }

        /// <summary>A module type whose submodules the compilation cannot see: one of another assembly, except TorchSharp's layers; TorchSharp's <c>Sequential</c>.</summary>
        private bool Opaque(INamedTypeSymbol type)
        {
            if (type.Locations.Any(l => l.IsInSource))
            {
                return false;
            }
            var torchSharp = SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, symbols.Module.ContainingAssembly);
            return !torchSharp || type.Name == "Sequential";
        }

        /// <summary>The module types in a type: itself, an array's elements, type arguments (<c>ModuleList&lt;Block&gt;</c>), a type parameter's constraints.</summary>
        private IEnumerable<INamedTypeSymbol> ModuleTypes(ITypeSymbol type)
        {
            switch (type)
            {
                case ITypeParameterSymbol parameter:
                    return parameter.ConstraintTypes.SelectMany(ModuleTypes);
                case IArrayTypeSymbol array:
                    return ModuleTypes(array.ElementType);
                case INamedTypeSymbol named:
                    var own = symbols.IsModule(named) ? new[] { named.OriginalDefinition } : [];
                    return own.Concat(named.TypeArguments.SelectMany(ModuleTypes));
                default:
                    return [];
            }
        }
    }
}
