using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT020: TorchSharp's strict <c>load</c> / <c>load_state_dict</c> on a model with pretrained parts, here or in a method it is handed to.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class StrictLoadAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.StrictLoad,
        DiagnosticDescriptors.StrictLoadInCall);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
        => SinkAnalysis.Register(
            start,
            symbols,
            SinkKind.StrictLoad,
            (context, sink, value) =>
            {
                var invocation = (IInvocationOperation)sink.Operation;
                var (remedy, properties) = CheckpointCallReplacement.For(invocation, value, "LoadCheckpoint", symbols);
                if (invocation.TargetMethod.Name != "load")
                {
                    // load_state_dict takes a dictionary, which LoadCheckpoint does not: no mechanical fix.
                    properties = ImmutableDictionary<string, string?>.Empty;
                }
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.StrictLoad, invocation.Syntax.GetLocation(), properties, sink.Name, value.PartName, remedy));
            },
            (context, argument, reached, value) => context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.StrictLoadInCall, SinkAnalysis.Location(argument),
                reached.Sink.Name, value.PartName, SinkAnalysis.Name(((IInvocationOperation)argument.Parent!).TargetMethod), CheckpointCallReplacement.InCall(value, argument.Value, "LoadCheckpoint"))),
            OperationKind.Invocation);
}
