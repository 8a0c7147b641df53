using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT010: a model whose constructors never freeze its pretrained modules.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class FreezeInConstructorAnalyzer : CheckpointAnalyzer
{
    /// <summary>The generated members that freeze.</summary>
    private static readonly ImmutableHashSet<string> FreezingMethods = ImmutableHashSet.Create("FreezePretrained", "LoadPretrained");

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.NeverFrozen);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        start.RegisterSymbolStartAction(symbol => AnalyzeType(symbol, symbols), SymbolKind.NamedType);
    }

    private static void AnalyzeType(SymbolStartAnalysisContext context, CheckpointSymbols symbols)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        // Only where the generator wrote FreezePretrained(): elsewhere CKPT001-005 say what to fix first.
        if (!type.GetMembers().OfType<IFieldSymbol>().Any(symbols.IsPretrained) || type.GetMembers("FreezePretrained").IsEmpty)
        {
            return;
        }
        var frozen = 0;
        context.RegisterOperationAction(operation =>
        {
            var invocation = (IInvocationOperation)operation.Operation;
            if (operation.ContainingSymbol is IMethodSymbol { MethodKind: MethodKind.Constructor } constructor
                && SymbolEqualityComparer.Default.Equals(constructor.ContainingType, type)
                && FreezingMethods.Contains(invocation.TargetMethod.Name)
                && invocation.Instance is IInstanceReferenceOperation)
            {
                Interlocked.Exchange(ref frozen, 1);
            }
        }, OperationKind.Invocation);
        context.RegisterSymbolEndAction(end =>
        {
            if (Volatile.Read(ref frozen) == 1)
            {
                return;
            }
            // Constructors that chain to this(...) run another constructor's body; the squiggle goes where the call belongs.
            var constructors = type.InstanceConstructors
                .SelectMany(c => c.DeclaringSyntaxReferences)
                .Select(r => r.GetSyntax(end.CancellationToken))
                .OfType<ConstructorDeclarationSyntax>()
                .Where(c => c.Initializer?.ThisOrBaseKeyword.Text != "this")
                .ToArray();
            var locations = constructors.Length > 0 ? constructors.Select(c => c.Identifier.GetLocation()) : [type.Locations[0]];
            foreach (var location in locations)
            {
                end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NeverFrozen, location, type.Name));
            }
        });
    }
}
