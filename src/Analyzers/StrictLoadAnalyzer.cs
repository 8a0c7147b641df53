using System.Collections.Immutable;
using System.Linq;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT020: TorchSharp's strict <c>load</c> / <c>load_state_dict</c> on a model with pretrained fields.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class StrictLoadAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.StrictLoad);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        start.RegisterOperationAction(operation => Analyze(operation, symbols), OperationKind.Invocation);
    }

    private static void Analyze(OperationAnalysisContext context, CheckpointSymbols symbols)
    {
        var invocation = (IInvocationOperation)context.Operation;
        var method = invocation.TargetMethod;
        if (!(CheckpointCallReplacement.IsModuleMethod(method, "load", symbols) || CheckpointCallReplacement.IsModuleMethod(method, "load_state_dict", symbols))
            || invocation.Instance?.Type is not { } model
            || symbols.FirstPretrainedField(model) is not { } field)
        {
            return;
        }
        // Omitted means TorchSharp's default, strict; a value that is not a constant is the caller's decision.
        var strict = invocation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "strict");
        if (strict is null || strict.ArgumentKind != ArgumentKind.DefaultValue && strict.Value.ConstantValue is not { HasValue: true, Value: true })
        {
            return;
        }
        var properties = method.Name == "load" ? CheckpointCallReplacement.For(invocation, "LoadCheckpoint") : ImmutableDictionary<string, string?>.Empty;
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.StrictLoad, invocation.Syntax.GetLocation(), properties, method.Name, PretrainedDeclarationRules.MemberName(field)));
    }
}
