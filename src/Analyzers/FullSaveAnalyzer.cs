using System.Collections.Immutable;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT021: TorchSharp's <c>save</c> on a model with pretrained fields writes them into every checkpoint.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class FullSaveAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.FullSave);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        start.RegisterOperationAction(operation => Analyze(operation, symbols), OperationKind.Invocation);
    }

    private static void Analyze(OperationAnalysisContext context, CheckpointSymbols symbols)
    {
        var invocation = (IInvocationOperation)context.Operation;
        if (CheckpointCallReplacement.IsModuleMethod(invocation.TargetMethod, "save", symbols)
            && invocation.Instance?.Type is { } model
            && symbols.FirstPretrainedField(model) is { } field)
        {
            var properties = CheckpointCallReplacement.For(invocation, "SaveCheckpoint");
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.FullSave, invocation.Syntax.GetLocation(), properties, PretrainedDeclarationRules.MemberName(field)));
        }
    }
}
