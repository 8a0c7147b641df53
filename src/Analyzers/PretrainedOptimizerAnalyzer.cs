using System.Collections.Immutable;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT012: a pretrained module's parameters handed to a <c>torch.optim</c> optimizer.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PretrainedOptimizerAnalyzer : CheckpointAnalyzer
{
    /// <summary>The diagnostic property present when the call is inside the model, where the code fix applies.</summary>
    internal const string InModel = nameof(InModel);

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.PretrainedParametersOptimized);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        if (symbols.Optimizer is null)
        {
            return;
        }
        start.RegisterOperationAction(operation => Analyze(operation, symbols), OperationKind.Argument);
    }

    private static void Analyze(OperationAnalysisContext context, CheckpointSymbols symbols)
    {
        var argument = (IArgumentOperation)context.Operation;
        var createsOptimizer = argument.Parent switch
        {
            // torch.optim.Adam(...), SGD(...), ...
            IInvocationOperation { TargetMethod: var factory } => SymbolEqualityComparer.Default.Equals(factory.ContainingType, symbols.Optim) && symbols.IsOptimizer(factory.ReturnType),
            // new Adam(...)
            IObjectCreationOperation { Type: var created } => symbols.IsOptimizer(created),
            _ => false,
        };
        if (createsOptimizer && PretrainedParameterOrigin.Find(argument.Value, symbols, context.CancellationToken) is { } field)
        {
            // TrainableParameters() can replace the argument only where it is in scope: inside the model.
            var properties = SymbolEqualityComparer.Default.Equals(context.ContainingSymbol.ContainingType, field.ContainingType)
                ? ImmutableDictionary<string, string?>.Empty.Add(InModel, "true")
                : ImmutableDictionary<string, string?>.Empty;
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.PretrainedParametersOptimized, argument.Syntax.GetLocation(), properties, PretrainedDeclarationRules.MemberName(field)));
        }
    }
}
