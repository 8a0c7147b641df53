using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// CKPT030: an <c>[Adapter]</c> field that is not an instance field of a module type in a module type. CKPT031: an
/// <c>[Adapter]</c> field that no pretrained part can hold, where the whole compilation says so: in a type with
/// <c>[Pretrained]</c> fields of its own, on a <c>[Pretrained]</c> field, or in a type that no <c>[Pretrained]</c> field
/// of the project can hold and no other assembly can see.
/// </summary>
/// <remarks>
/// A compilation without <c>[Adapter]</c> pays one attribute lookup per field and one syntax check per property: what
/// the pretrained parts can hold is worked out at the compilation's end, only when an adapter field needs it.
/// </remarks>
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
        // Every [Adapter] field seen, once (the parts of a partial property may both be visited), and whether it is valid.
        var adapters = new ConcurrentDictionary<IFieldSymbol, bool>(SymbolEqualityComparer.Default);
        void Check(IFieldSymbol field, Action<Diagnostic> report)
        {
            if (!symbols.IsAdapter(field))
            {
                return;
            }
            var problem = Problem(field, symbols);
            if (adapters.TryAdd(field, problem is null) && problem is not null)
            {
                report(Diagnostic.Create(DiagnosticDescriptors.InvalidAdapter, field.Locations[0], PretrainedDeclarationRules.MemberName(field), problem));
            }
        }
        start.RegisterSymbolAction(context => Check((IFieldSymbol)context.Symbol, context.ReportDiagnostic), SymbolKind.Field);
        // [field: Adapter] on an auto-property marks its backing field, for which no field action runs.
        start.RegisterSymbolAction(context =>
        {
            var property = (IPropertySymbol)context.Symbol;
            if (MarksBackingField(property, context.CancellationToken) && PretrainedDeclarationRules.BackingField(property) is { } field)
            {
                Check(field, context.ReportDiagnostic);
            }
        }, SymbolKind.Property);
        start.RegisterCompilationEndAction(end =>
        {
            if (adapters.IsEmpty)
            {
                return;
            }
            var holdings = new PretrainedHoldings(symbols, end.Compilation, end.CancellationToken);
            foreach (var field in adapters.Where(a => a.Value).Select(a => a.Key))
            {
                if (Outside(field, symbols, holdings) is { } reason)
                {
                    end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.AdapterOutsidePretrained, field.Locations[0], PretrainedDeclarationRules.MemberName(field), reason));
                }
            }
        });
    }

    /// <summary>Whether a declaration of the property has an attribute for its backing field (<c>[field: ...]</c>): the syntax answers, without binding an attribute.</summary>
    private static bool MarksBackingField(IPropertySymbol property, CancellationToken cancellationToken)
        => property.DeclaringSyntaxReferences.Any(r => r.GetSyntax(cancellationToken) is PropertyDeclarationSyntax declaration
            && declaration.AttributeLists.Any(l => l.Target?.Identifier.IsKind(SyntaxKind.FieldKeyword) == true));

    /// <summary>What makes the field unusable as an adapter (CKPT030), or <see langword="null"/>.</summary>
    private static string? Problem(IFieldSymbol field, CheckpointSymbols symbols)
        // Roslyn reports a const as static too: const is checked first so that the message names it.
        => field.IsConst ? "is const"
            : field.IsStatic ? "is static"
            : !symbols.IsModule(field.Type) ? $"has type '{field.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}', which is not a torch.nn.Module"
            : !symbols.IsModule(field.ContainingType) ? $"is declared in '{field.ContainingType.Name}', which is not a torch.nn.Module"
            : null;

    /// <summary>
    /// Why the field can be inside no pretrained part (CKPT031), or <see langword="null"/> when it can be, or nobody can tell.
    /// The answers that need only the field and its type come first: what the parts hold is worked out only for the rest.
    /// </summary>
    private static string? Outside(IFieldSymbol field, CheckpointSymbols symbols, PretrainedHoldings holdings)
    {
        var type = field.ContainingType;
        if (symbols.IsPretrained(field))
        {
            return "it is [Pretrained] itself: the frozen part, not a module inside one";
        }
        if (symbols.DeclaredPretrained(type).Length > 0)
        {
            return $"'{type.Name}' has [Pretrained] fields of its own and this field sits beside them";
        }
        return holdings.CanHold(type) ? null : $"no [Pretrained] field of this project holds a '{type.Name}' and no other project can see the type";
    }

    /// <summary>
    /// Which module types the pretrained parts of one compilation can hold: the types of its <c>[Pretrained]</c> members,
    /// then, type by type, the module types of their fields and the module types their code creates. Where a part can
    /// hold modules the compilation cannot see (a <c>Sequential</c>, a module type of another assembly), it can hold any.
    /// Worked out once, the first time a field's type is one no other assembly can see, and only for the types reached:
    /// a type's code is read (from its syntax, with its file's semantic model) only when a part can hold the type.
    /// Used by one compilation-end action, on one thread.
    /// </summary>
    private sealed class PretrainedHoldings(CheckpointSymbols symbols, Compilation compilation, CancellationToken cancellationToken)
    {
        private bool? friends;
        private HashSet<INamedTypeSymbol>? reached;
        private bool holdsAnything;

        public bool CanHold(INamedTypeSymbol type)
        {
            if (!Closed(type))
            {
                return true;
            }
            reached ??= Reach();
            return holdsAnything || reached.Any(r => PretrainedDeclarationRules.DerivesFrom(r, type.OriginalDefinition));
        }

        /// <summary>Whether no other assembly can use the type: an application's, or one not visible outside its assembly.</summary>
        private bool Closed(INamedTypeSymbol type)
        {
            if (compilation.Options.OutputKind is OutputKind.ConsoleApplication or OutputKind.WindowsApplication or OutputKind.WindowsRuntimeApplication)
            {
                return true;
            }
            friends ??= compilation.Assembly.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.Runtime.CompilerServices.InternalsVisibleToAttribute");
            return friends == false && PretrainedDeclarationRules.TypeAndContainers(type).Any(t => t.DeclaredAccessibility is Accessibility.Private or Accessibility.Internal or Accessibility.ProtectedAndInternal);
        }

        private HashSet<INamedTypeSymbol> Reach()
        {
            var found = new HashSet<INamedTypeSymbol>(SymbolEqualityComparer.Default);
            var held = new Dictionary<INamedTypeSymbol, List<ITypeSymbol>>(SymbolEqualityComparer.Default);
            var pending = new Queue<INamedTypeSymbol>(Roots().SelectMany(ModuleTypes));
            while (pending.Count > 0 && !holdsAnything)
            {
                cancellationToken.ThrowIfCancellationRequested();
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
                    var definition = current.OriginalDefinition;
                    if (!held.TryGetValue(definition, out var types))
                    {
                        held[definition] = types = Held(definition);
                    }
                    foreach (var module in types.SelectMany(ModuleTypes))
                    {
                        pending.Enqueue(module);
                    }
                }
                foreach (var derived in symbols.DerivedTypes(type))
                {
                    pending.Enqueue(derived.OriginalDefinition);
                }
            }
            return found;
        }

        /// <summary>The types of the compilation's <c>[Pretrained]</c> instance members, found in one walk of its types.</summary>
        private IEnumerable<ITypeSymbol> Roots()
        {
            var pending = new Stack<INamespaceOrTypeSymbol>();
            pending.Push(compilation.Assembly.GlobalNamespace);
            while (pending.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var member in pending.Pop().GetMembers())
                {
                    if (member is INamespaceOrTypeSymbol nested)
                    {
                        pending.Push(nested);
                    }
                    if (member is INamedTypeSymbol type)
                    {
                        foreach (var field in symbols.DeclaredPretrained(type).Where(f => !f.IsStatic))
                        {
                            yield return field.Type;
                        }
                    }
                }
            }
        }

        /// <summary>
        /// The types a source type holds: those of its instance fields, the types its code creates (<c>new Block()</c>) and
        /// the return types of the methods its code calls (<c>nn.Linear(4, 4)</c>, a factory); not the code of its nested types.
        /// </summary>
        private List<ITypeSymbol> Held(INamedTypeSymbol type)
        {
            var types = new List<ITypeSymbol>();
            if (!SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, compilation.Assembly))
            {
                return types;
            }
            types.AddRange(type.GetMembers().OfType<IFieldSymbol>().Where(f => !f.IsStatic).Select(f => f.Type));
            foreach (var reference in type.DeclaringSyntaxReferences)
            {
                var declaration = reference.GetSyntax(cancellationToken);
                foreach (var node in declaration.DescendantNodes(n => n == declaration || n is not (BaseTypeDeclarationSyntax or DelegateDeclarationSyntax)))
                {
                    if (node is ObjectCreationExpressionSyntax or ImplicitObjectCreationExpressionSyntax or InvocationExpressionSyntax or QueryExpressionSyntax)
                    {
                        AddCreated(symbols.Bodies.Operation(node, cancellationToken), types);
                    }
                }
            }
            return types;
        }

        private static void AddCreated(IOperation? operation, List<ITypeSymbol> types)
        {
            switch (operation)
            {
                case IObjectCreationOperation { Type: { } created }:
                    types.Add(created);
                    break;
                case IInvocationOperation invocation:
                    types.Add(invocation.TargetMethod.ReturnType);
                    break;
                case ITranslatedQueryOperation query:
                    // The calls a query stands for (Select, Where, ...) have no syntax of their own.
                    types.AddRange(query.Descendants().OfType<IInvocationOperation>().Where(i => i.IsImplicit).Select(i => i.TargetMethod.ReturnType));
                    break;
            }
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
