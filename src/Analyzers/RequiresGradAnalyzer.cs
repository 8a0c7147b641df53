using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT011: <c>requires_grad</c> turned back on for parameters of a pretrained module, here or in a method they are handed to.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RequiresGradAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.RequiresGradEnabled,
        DiagnosticDescriptors.RequiresGradEnabledInCall);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
        => SinkAnalysis.Register(
            start,
            symbols,
            SinkKind.RequiresGrad,
            (context, sink, value) => context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.RequiresGradEnabled, sink.Operation.Syntax.GetLocation(), value.PartName)),
            (context, argument, reached, value) => context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.RequiresGradEnabledInCall, SinkAnalysis.Location(argument), value.PartName, SinkAnalysis.Name(((IInvocationOperation)argument.Parent!).TargetMethod))),
            OperationKind.SimpleAssignment,
            OperationKind.Invocation);
}
