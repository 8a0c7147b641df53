using System.Collections.Immutable;
using System.Linq;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT011: <c>requires_grad</c> turned back on for parameters of a pretrained module.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RequiresGradAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.RequiresGradEnabled);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        start.RegisterOperationAction(operation =>
        {
            // p.requires_grad = true
            var assignment = (ISimpleAssignmentOperation)operation.Operation;
            if (assignment.Target is IPropertyReferenceOperation { Property.Name: "requires_grad" } property
                && symbols.IsTensor(property.Property.ContainingType)
                && assignment.Value.ConstantValue is { HasValue: true, Value: true })
            {
                Report(operation, property.Instance, symbols);
            }
        }, OperationKind.SimpleAssignment);
        start.RegisterOperationAction(operation =>
        {
            // p.requires_grad_() or p.requires_grad_(true)
            var invocation = (IInvocationOperation)operation.Operation;
            if (invocation.TargetMethod.Name == "requires_grad_"
                && symbols.IsTensor(invocation.TargetMethod.ContainingType)
                && invocation.Arguments.FirstOrDefault() is { ArgumentKind: ArgumentKind.DefaultValue } or { Value.ConstantValue: { HasValue: true, Value: true } })
            {
                Report(operation, invocation.Instance, symbols);
            }
        }, OperationKind.Invocation);
    }

    private static void Report(OperationAnalysisContext context, IOperation? parameter, CheckpointSymbols symbols)
    {
        if (PretrainedParameterOrigin.Find(parameter, symbols, context.CancellationToken) is { } field)
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.RequiresGradEnabled, context.Operation.Syntax.GetLocation(), PretrainedDeclarationRules.MemberName(field)));
        }
    }
}
