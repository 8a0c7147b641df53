using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace CheckpointGen.Analyzers;

/// <summary>
/// CKPT006: a class implementing <c>ICheckpointable</c> by hand whose policy the runtime cannot build. The interface's
/// <c>CheckpointPolicy</c> builds it from the facts the generator writes for <c>[Pretrained]</c> members; a class with
/// neither those members nor a <c>CheckpointPolicy</c> of its own would throw on its first save, load or freeze.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CheckpointableImplementationAnalyzer : CheckpointAnalyzer
{
    private const string PretrainedMemberAttributeName = "CheckpointGen.PretrainedMemberAttribute";

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.NoPolicy);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        // A runtime whose CheckpointPolicy has no default implementation: the compiler itself reports a class without one.
        if (symbols.Checkpointable.GetMembers("CheckpointPolicy").OfType<IPropertySymbol>().FirstOrDefault() is not { IsAbstract: false } policy
            || symbols.Compilation.GetTypeByMetadataName(PretrainedMemberAttributeName) is not { } facts)
        {
            return;
        }
        start.RegisterSymbolAction(context =>
        {
            var type = (INamedTypeSymbol)context.Symbol;
            if (HasNoPolicy(type, policy, facts, symbols))
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NoPolicy, type.Locations[0], type.Name));
            }
        }, SymbolKind.NamedType);
    }

    /// <summary>
    /// A concrete class (or a struct) whose <c>CheckpointPolicy</c> is the interface's default, while neither it nor a base type has
    /// <c>[Pretrained]</c> members or the generated facts the default builds the policy from.
    /// </summary>
    private static bool HasNoPolicy(INamedTypeSymbol type, IPropertySymbol policy, INamedTypeSymbol facts, CheckpointSymbols symbols)
    {
        // The model types, the common case, first: their [Pretrained] members say so.
        if (type.TypeKind is not (TypeKind.Class or TypeKind.Struct) || type.IsAbstract
            || !type.AllInterfaces.Contains(symbols.Checkpointable, SymbolEqualityComparer.Default)
            || symbols.FirstPretrainedField(type) is not null)
        {
            return false;
        }
        // A type compiled elsewhere shows its generated facts, not its private [Pretrained] fields.
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (current.OriginalDefinition.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, facts)))
            {
                return false;
            }
        }
        return SymbolEqualityComparer.Default.Equals(type.FindImplementationForInterfaceMember(policy), policy);
    }
}
