using System.Collections.Immutable;
using CheckpointGen.Analyzers.Flow;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT012: a pretrained module's parameters handed to a <c>torch.optim</c> optimizer, here or in a method they are handed to.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PretrainedOptimizerAnalyzer : CheckpointAnalyzer
{
    /// <summary>The diagnostic property holding the expression that replaces the argument; absent where no fix keeps the meaning.</summary>
    internal const string Replacement = nameof(Replacement);

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.PretrainedParametersOptimized,
        DiagnosticDescriptors.PretrainedParametersOptimizedInCall);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        if (symbols.Optimizer is null)
        {
            return;
        }
        SinkAnalysis.Register(
            start,
            symbols,
            SinkKind.Optimizer,
            (context, sink, value) => ReportAtSink(context, sink, value, symbols),
            (context, argument, _, value) => context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.PretrainedParametersOptimizedInCall, SinkAnalysis.Location(argument),
                value.PartName, SinkAnalysis.Name(((IInvocationOperation)argument.Parent!).TargetMethod), Trainable(value, null, symbols))),
            OperationKind.Invocation,
            OperationKind.ObjectCreation);
    }

    private static void ReportAtSink(OperationAnalysisContext context, Sink sink, FlowValue value, CheckpointSymbols symbols)
    {
        var receiver = ModelReceiver.At(value, sink.Operation, symbols);
        var trainable = Trainable(value, receiver, symbols);
        // TrainableParameters() replaces the argument only where it is an optimizer's whole parameter list.
        var properties = receiver is not null && sink.Replaceable
            ? ImmutableDictionary<string, string?>.Empty.Add(Replacement, trainable)
            : ImmutableDictionary<string, string?>.Empty;
        var location = sink.Operation is IArgumentOperation argument ? SinkAnalysis.Location(argument) : sink.Operation.Syntax.GetLocation();
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.PretrainedParametersOptimized, location, properties, value.PartName, trainable));
    }

    /// <summary>What to pass instead: the model's <c>TrainableParameters()</c>, written as precisely as the code allows.</summary>
    private static string Trainable(FlowValue value, string? receiver, CheckpointSymbols symbols)
    {
        if (receiver is not null)
        {
            return receiver.Length == 0 ? "TrainableParameters()" : receiver + ".TrainableParameters()";
        }
        var model = value.Root switch
        {
            PretrainedRoot pretrained => pretrained.Member.ContainingType,
            ModelRoot root => root.Type,
            _ => null,
        };
        return symbols.HasCheckpointMembers(model)
            ? $"the TrainableParameters() of the '{model!.Name}'"
            : $"new CheckpointPolicy({ModelReceiver.Text(value.Owner) ?? "model"}).TrainableParameters() ('{model?.Name}' has no generated members)";
    }
}
