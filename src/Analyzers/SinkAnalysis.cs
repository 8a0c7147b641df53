using System;
using System.Linq;
using CheckpointGen.Analyzers.Flow;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// How CKPT011, CKPT012, CKPT020 and CKPT021 find what they report: a sink of their kind reached by a value they care about,
/// either at the sink itself or through a call that hands the value to a method of the compilation whose parameter reaches
/// such a sink (<c>Unfreeze(vae)</c>).
/// </summary>
internal static class SinkAnalysis
{
    /// <param name="start">The compilation's start.</param>
    /// <param name="symbols">Its symbols.</param>
    /// <param name="kind">The sinks the analyzer reports.</param>
    /// <param name="atSink">Reports a value reaching a sink in the analyzed code.</param>
    /// <param name="throughCall">Reports a value an argument hands to a method whose parameter reaches a sink.</param>
    /// <param name="sinkOperations">
    /// The operations that hold sinks of <paramref name="kind"/> (an assignment, an invocation, an optimizer's creation with
    /// its arguments). Invocations are always analyzed, for the calls into the compilation's methods: one callback per
    /// operation does both, since the callbacks' count is most of an analyzer's cost.
    /// </param>
    public static void Register(
        CompilationStartAnalysisContext start,
        CheckpointSymbols symbols,
        SinkKind kind,
        Action<OperationAnalysisContext, Sink, FlowValue> atSink,
        Action<OperationAnalysisContext, IArgumentOperation, ParameterSink, FlowValue> throughCall,
        params OperationKind[] sinkOperations)
    {
        start.RegisterOperationAction(context =>
        {
            foreach (var sink in Sinks.Held(context.Operation, symbols))
            {
                if (sink.Kind == kind
                    && new ValueTracer(symbols, callDepth: 0, context.CancellationToken).Trace(sink.Value).FirstOrDefault(v => Reportable(v, sink)) is { } value)
                {
                    atSink(context, sink, value);
                }
            }
            if (context.Operation is IInvocationOperation invocation)
            {
                AnalyzeCall(context, invocation, symbols, kind, throughCall);
            }
        }, sinkOperations.Append(OperationKind.Invocation).Distinct().ToArray());
    }

    private static void AnalyzeCall(
        OperationAnalysisContext context,
        IInvocationOperation invocation,
        CheckpointSymbols symbols,
        SinkKind kind,
        Action<OperationAnalysisContext, IArgumentOperation, ParameterSink, FlowValue> throughCall)
    {
        if (!symbols.Summaries.TakesValues(invocation.TargetMethod))
        {
            return;
        }
        // A sink its author suppressed with a pragma is deliberate, wherever the model comes from.
        var reached = symbols.Summaries.ParameterSinks(invocation.TargetMethod, depth: 1, context.CancellationToken)
            .Where(s => s.Sink.Kind == kind && !PragmaSuppressions.IsSuppressed(s.Sink.Operation.Syntax, Id(kind)))
            .ToArray();
        if (reached.Length == 0)
        {
            return;
        }
        var tracer = new ValueTracer(symbols, callDepth: 0, context.CancellationToken);
        foreach (var argument in invocation.Arguments)
        {
            var match = reached
                .Where(s => s.Ordinal == argument.Parameter?.Ordinal)
                .SelectMany(s => tracer.Trace(argument.Value).Select(v => (Sink: s, Value: s.Value.Substitute(v))))
                .FirstOrDefault(m => m.Value is not null && Reportable(m.Value, m.Sink.Sink));
            if (match.Value is { } value)
            {
                throughCall(context, argument, match.Sink, value);
            }
        }
    }

    /// <summary>
    /// True when the value is what the sink's diagnostic is about: pretrained parameters for gradients and optimizers, a
    /// model with pretrained parts for TorchSharp's save and load (unless a <c>skip</c> list may leave its pretrained keys out).
    /// </summary>
    public static bool Reportable(FlowValue value, Sink sink) => sink.Kind switch
    {
        SinkKind.RequiresGrad or SinkKind.Optimizer => value.IsPretrainedParameters,
        SinkKind.Save or SinkKind.StrictLoad => value.IsModel && Sinks.SkipsNoPretrainedKey(sink.Operation, ((ModelRoot)value.Root).Facts),
        _ => false,
    };

    private static string Id(SinkKind kind) => kind switch
    {
        SinkKind.RequiresGrad => DiagnosticDescriptors.RequiresGradEnabled.Id,
        SinkKind.Optimizer => DiagnosticDescriptors.PretrainedParametersOptimized.Id,
        SinkKind.StrictLoad => DiagnosticDescriptors.StrictLoad.Id,
        SinkKind.Save => DiagnosticDescriptors.FullSave.Id,
        _ => DiagnosticDescriptors.NeverFrozen.Id,
    };

    /// <summary>Where a diagnostic on an argument goes: the whole argument as written (<c>model.vae!</c>, <c>ref x</c>).</summary>
    public static Location Location(IArgumentOperation argument)
        => (argument.Syntax.FirstAncestorOrSelf<ArgumentSyntax>() ?? argument.Syntax).GetLocation();

    /// <summary>How messages name a method: <c>Training.Unfreeze</c>, or a local function's own name.</summary>
    public static string Name(IMethodSymbol method)
        => method.MethodKind == MethodKind.LocalFunction || method.ContainingType is null ? method.Name : method.ContainingType.Name + "." + method.Name;
}
