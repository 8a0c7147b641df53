using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT021: TorchSharp's <c>save</c> on a model with pretrained parts writes them into every checkpoint, here or in a method it is handed to.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class FullSaveAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.FullSave,
        DiagnosticDescriptors.FullSaveInCall);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
        => SinkAnalysis.Register(
            start,
            symbols,
            SinkKind.Save,
            (context, sink, value) =>
            {
                var invocation = (IInvocationOperation)sink.Operation;
                var (remedy, properties) = CheckpointCallReplacement.For(invocation, value, "SaveCheckpoint", symbols);
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.FullSave, invocation.Syntax.GetLocation(), properties, value.PartName, remedy));
            },
            (context, argument, _, value) => context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.FullSaveInCall, SinkAnalysis.Location(argument),
                value.PartName, SinkAnalysis.Name(((IInvocationOperation)argument.Parent!).TargetMethod), CheckpointCallReplacement.InCall(value, argument.Value, "SaveCheckpoint"))),
            OperationKind.Invocation);
}
