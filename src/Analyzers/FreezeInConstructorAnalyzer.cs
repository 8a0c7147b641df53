using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// CKPT010: a model that nothing freezes when it is constructed. A freeze counts when it runs as part of construction:
/// a <c>FreezePretrained()</c> or <c>LoadPretrained()</c> on the new instance in a constructor, in a method a constructor
/// calls on it or hands it to (a bounded number of calls deep), in every factory that creates it (when its constructors are
/// private), or, for a model only derived types build (abstract, or with protected constructors only), in a constructor
/// of a type deriving from it. A lambda is not counted: it may never run.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class FreezeInConstructorAnalyzer : CheckpointAnalyzer
{
    /// <summary>The diagnostic property saying where the fix may insert <c>FreezePretrained();</c>; absent where it may not.</summary>
    internal const string Insert = nameof(Insert);

    /// <summary>After the constructor's last <c>RegisterComponents()</c> or <c>register_module(...)</c>.</summary>
    internal const string AfterRegistration = nameof(AfterRegistration);

    /// <summary>At the end of a constructor of a type that is built as it is (not only by derived types): construction of the type's own part ends there.</summary>
    internal const string AtEnd = nameof(AtEnd);

    private const int MaxCallDepth = 3;

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.NeverFrozen);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        // Whether anything freezes a type, decided once per type, and only for a constructor that does not freeze by itself.
        var frozen = new ConcurrentDictionary<INamedTypeSymbol, bool>(SymbolEqualityComparer.Default);
        bool IsFrozen(INamedTypeSymbol type, CancellationToken cancellationToken) => frozen.GetOrAdd(type, t =>
        {
            var freezes = new ConstructionFreeze(symbols, cancellationToken);
            return freezes.Frozen(t) || BuiltByDerivedTypesOnly(t) && symbols.DerivedTypes(t).Any(freezes.Frozen);
        });

        // Each constructor is read in the operation tree the driver builds anyway: no body is bound twice in the common case.
        start.RegisterOperationAction(context =>
        {
            var body = (IConstructorBodyOperation)context.Operation;
            // The common case, a constructor that freezes, costs a look at its text and its calls: the type's [Pretrained]
            // members (their attributes bound) are asked for only when it does not.
            if (body.Syntax is not ConstructorDeclarationSyntax declaration
                || declaration.Initializer?.ThisOrBaseKeyword.Text == "this"
                || !MayDeclarePretrained(declaration)
                || context.ContainingSymbol is not IMethodSymbol { ContainingType: var type }
                || !symbols.IsGenerated(type)
                || new ConstructionFreeze(symbols, context.CancellationToken).FreezesThis(body)
                || !IsChecked(type, symbols)
                || IsFrozen(type, context.CancellationToken))
            {
                return;
            }
            var insert = Registers(declaration) ? AfterRegistration : BuiltByDerivedTypesOnly(type) ? null : AtEnd;
            var properties = insert is null ? ImmutableDictionary<string, string?>.Empty : ImmutableDictionary<string, string?>.Empty.Add(Insert, insert);
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NeverFrozen, declaration.Identifier.GetLocation(), properties, type.Name, Remedy(type)));
        }, OperationKind.ConstructorBody);

        // A type without a constructor of its own (a primary constructor, or none) gets the warning on its name.
        start.RegisterSymbolAction(context =>
        {
            var type = (INamedTypeSymbol)context.Symbol;
            if (IsChecked(type, symbols)
                && !type.InstanceConstructors.Any(c => c.DeclaringSyntaxReferences.Any(r => r.GetSyntax(context.CancellationToken) is ConstructorDeclarationSyntax))
                && !IsFrozen(type, context.CancellationToken))
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NeverFrozen, type.Locations[0], type.Name, Remedy(type)));
            }
        }, SymbolKind.NamedType);
    }

    /// <summary>Syntax only, before any symbol is asked for: the generator writes code only into a partial type.</summary>
    private static bool MayDeclarePretrained(ConstructorDeclarationSyntax constructor)
        => constructor.Parent is TypeDeclarationSyntax declaration && declaration.Modifiers.Any(SyntaxKind.PartialKeyword);

    /// <summary>Only a type that declares [Pretrained] members and got generated code: elsewhere CKPT001-005 say what to fix first.</summary>
    private static bool IsChecked(INamedTypeSymbol type, CheckpointSymbols symbols)
        => !symbols.DeclaredPretrained(type).IsEmpty && symbols.IsGenerated(type);

    /// <summary>
    /// Only types deriving from it build one: an abstract type, or one whose constructors are all protected. Its own
    /// constructors run before the derived type registers its fields, so the derived type's constructor is where it freezes.
    /// </summary>
    private static bool BuiltByDerivedTypesOnly(INamedTypeSymbol type)
        => type.IsAbstract
            || type.InstanceConstructors.All(c => !c.IsImplicitlyDeclared && c.DeclaredAccessibility is Accessibility.Protected or Accessibility.ProtectedAndInternal);

    /// <summary>A base model's own constructors run before a derived type registers its fields: freezing there would throw.</summary>
    private static string Remedy(INamedTypeSymbol type)
        => BuiltByDerivedTypesOnly(type) && !type.InstanceConstructors.SelectMany(c => c.DeclaringSyntaxReferences).Select(r => r.GetSyntax()).OfType<ConstructorDeclarationSyntax>().Any(Registers)
            ? "call FreezePretrained() after RegisterComponents() in the constructors of the types deriving from it"
            : "call FreezePretrained() after RegisterComponents()";

    /// <summary>True when the constructor registers modules itself, as a statement of its own body.</summary>
    internal static bool Registers(ConstructorDeclarationSyntax constructor)
        => constructor.Body?.Statements.Any(s => s is ExpressionStatementSyntax { Expression: var expression } && IsRegistration(expression))
            ?? (constructor.ExpressionBody is { Expression: var body } && IsRegistration(body));

    /// <summary><c>RegisterComponents()</c> or <c>register_module(...)</c>, on this.</summary>
    internal static bool IsRegistration(ExpressionSyntax expression)
        => expression is InvocationExpressionSyntax
        {
            Expression: IdentifierNameSyntax { Identifier.Text: "RegisterComponents" or "register_module" }
                or MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax, Name.Identifier.Text: "RegisterComponents" or "register_module" },
        };

    /// <summary>Whether construction of a type freezes the new instance.</summary>
    private sealed class ConstructionFreeze(CheckpointSymbols symbols, CancellationToken cancellationToken)
    {
        /// <summary>A constructor, or every factory of a type whose constructors are private, freezes the new instance.</summary>
        public bool Frozen(INamedTypeSymbol type)
            => type.InstanceConstructors.Any(c => symbols.Bodies.Body(c, cancellationToken) is { } body && FreezesThis(body, depth: 0))
                || FactoriesFreeze(type);

        public bool FreezesThis(IOperation body) => FreezesThis(body, depth: 0);

        private bool FreezesThis(IOperation body, int depth)
        {
            foreach (var invocation in Executed(body).OfType<IInvocationOperation>())
            {
                if (IsFreezeOfThis(invocation) || Sinks.Recognize(invocation, symbols) is { Kind: SinkKind.Freeze } sink && IsThis(sink.Value))
                {
                    return true;
                }
                var target = invocation.TargetMethod;
                if (depth < MaxCallDepth && target.MethodKind == MethodKind.LocalFunction
                    && LocalFunction(body, target) is { Body: { } local } && FreezesThis(local, depth + 1))
                {
                    return true;
                }
                if (depth < MaxCallDepth && IsThis(invocation.Instance) && symbols.Summaries.CanSummarize(target)
                    && symbols.Bodies.Body(target, cancellationToken) is { } called && FreezesThis(called, depth + 1))
                {
                    return true;
                }
                if (invocation.Arguments.Any(a => IsThis(a.Value) && FreezesParameter(target, a)))
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>
        /// <c>FreezePretrained()</c>, <c>LoadPretrained()</c> or <c>this.LoadPretrained(options)</c> on the instance under
        /// construction: in a type with generated members no user method can take those names, so no symbol needs asking.
        /// </summary>
        private static bool IsFreezeOfThis(IInvocationOperation invocation)
            => invocation.TargetMethod.Name is "FreezePretrained" or "LoadPretrained"
                && (IsThis(invocation.Instance) || invocation.TargetMethod.IsExtensionMethod && invocation.Arguments.Length > 0 && IsThis(invocation.Arguments[0].Value));

        /// <summary>Every <c>new T(...)</c> in the type's static methods is frozen before it is handed out, and there is one.</summary>
        private bool FactoriesFreeze(INamedTypeSymbol type)
        {
            if (type.InstanceConstructors.Any(c => c.IsImplicitlyDeclared || c.DeclaredAccessibility != Accessibility.Private))
            {
                return false;
            }
            var created = 0;
            foreach (var factory in type.GetMembers().OfType<IMethodSymbol>().Where(m => m.IsStatic && m.MethodKind == MethodKind.Ordinary))
            {
                if (symbols.Bodies.Body(factory, cancellationToken) is not { } body)
                {
                    continue;
                }
                foreach (var creation in body.DescendantsAndSelf().OfType<IObjectCreationOperation>())
                {
                    if (!SymbolEqualityComparer.Default.Equals(creation.Type?.OriginalDefinition, type.OriginalDefinition))
                    {
                        continue;
                    }
                    created++;
                    if (!FrozenAfterCreation(creation, body))
                    {
                        return false;
                    }
                }
            }
            return created > 0;
        }

        /// <summary><c>var model = new T(); model.FreezePretrained();</c>, or the local handed to a method that freezes it.</summary>
        private bool FrozenAfterCreation(IObjectCreationOperation creation, IOperation body)
        {
            var local = creation.Parent switch
            {
                IVariableInitializerOperation { Parent: IVariableDeclaratorOperation declarator } => declarator.Symbol,
                ISimpleAssignmentOperation { Target: ILocalReferenceOperation target } => target.Local,
                _ => null,
            };
            return local is not null && Executed(body).OfType<IInvocationOperation>().Any(invocation =>
                Sinks.Recognize(invocation, symbols) is { Kind: SinkKind.Freeze } sink && IsLocal(sink.Value, local)
                || invocation.Arguments.Any(a => IsLocal(a.Value, local) && FreezesParameter(invocation.TargetMethod, a)));
        }

        private bool FreezesParameter(IMethodSymbol method, IArgumentOperation argument)
            => symbols.Summaries.ParameterSinks(method, depth: 1, cancellationToken)
                .Any(s => s.Sink.Kind == SinkKind.Freeze && !s.InLambda && s.Ordinal == argument.Parameter?.Ordinal && s.Value.Shape == Flow.Shape.Self);

        /// <summary>The operations that run when the body does: lambdas and local functions only run when called.</summary>
        private static System.Collections.Generic.IEnumerable<IOperation> Executed(IOperation body)
        {
            var pending = new System.Collections.Generic.Stack<IOperation>();
            pending.Push(body);
            while (pending.Count > 0)
            {
                var operation = pending.Pop();
                yield return operation;
                foreach (var child in operation.ChildOperations.Reverse())
                {
                    if (child is not (IAnonymousFunctionOperation or ILocalFunctionOperation))
                    {
                        pending.Push(child);
                    }
                }
            }
        }

        private static ILocalFunctionOperation? LocalFunction(IOperation body, IMethodSymbol function)
        {
            var root = body;
            while (root.Parent is { } parent)
            {
                root = parent;
            }
            return root.DescendantsAndSelf().OfType<ILocalFunctionOperation>().FirstOrDefault(f => SymbolEqualityComparer.Default.Equals(f.Symbol, function.OriginalDefinition));
        }

        private static bool IsThis(IOperation? operation)
            => Unconverted(operation) is IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance };

        private static bool IsLocal(IOperation? operation, ILocalSymbol local)
            => Unconverted(operation) is ILocalReferenceOperation reference && SymbolEqualityComparer.Default.Equals(reference.Local, local);

        private static IOperation? Unconverted(IOperation? operation)
        {
            while (operation is IConversionOperation conversion)
            {
                operation = conversion.Operand;
            }
            return operation;
        }
    }
}
