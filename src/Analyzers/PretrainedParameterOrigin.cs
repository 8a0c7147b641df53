using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers;

/// <summary>
/// Follows a value back to where it came from, through locals, foreach variables, lambda parameters,
/// LINQ, indexers and tuple elements, to find whether it holds parameters of a <c>[Pretrained]</c> field.
/// </summary>
internal static class PretrainedParameterOrigin
{
    private const int MaxDepth = 12;

    /// <summary>The pretrained field whose parameters <paramref name="value"/> holds, or <see langword="null"/>.</summary>
    public static IFieldSymbol? Find(IOperation? value, CheckpointSymbols symbols, CancellationToken cancellationToken)
        => Find(value, symbols, depth: 0, cancellationToken);

    private static IFieldSymbol? Find(IOperation? value, CheckpointSymbols symbols, int depth, CancellationToken cancellationToken)
    {
        if (value is null || depth > MaxDepth)
        {
            return null;
        }
        IFieldSymbol? Next(IOperation? operation) => Find(operation, symbols, depth + 1, cancellationToken);

        switch (value)
        {
            case IConversionOperation conversion:
                return Next(conversion.Operand);

            case IFieldReferenceOperation { Field: var field } reference:
                // A pretrained module itself (vae.weight reaches here through the property below), or a tuple element of named_parameters().
                return symbols.IsPretrained(field) ? field
                    : field.ContainingType?.IsTupleType == true ? Next(reference.Instance)
                    : null;

            case IPropertyReferenceOperation property:
                // A [field: Pretrained] property itself, list[0], or a parameter property of a module (vae.weight); not
                // through an [Adapter] (vae.Adapter.weight), whose parameters train inside the pretrained part.
                return symbols.PretrainedMember(property) ?? (symbols.AdapterMember(property) is null ? Next(property.Instance) : null);

            case IArrayElementReferenceOperation element:
                return Next(element.ArrayReference);

            case IInvocationOperation invocation:
                return FromInvocation(invocation, symbols, Next);

            case ILocalReferenceOperation local:
                return Next(LocalSource(local, cancellationToken));

            case IParameterReferenceOperation { Parameter.ContainingSymbol: IMethodSymbol { MethodKind: MethodKind.LambdaMethod } } parameter:
                return Next(LambdaSource(parameter, cancellationToken));

            default:
                return null;
        }
    }

    private static IFieldSymbol? FromInvocation(IInvocationOperation invocation, CheckpointSymbols symbols, System.Func<IOperation?, IFieldSymbol?> next)
    {
        var method = invocation.TargetMethod;
        if (method.Name is "parameters" or "named_parameters" && symbols.IsModule(method.ContainingType))
        {
            return symbols.PretrainedMember(invocation.Instance);
        }
        if (method.IsExtensionMethod && invocation.Arguments.Length > 0 && method.ContainingNamespace?.ToDisplayString() == "System.Linq")
        {
            // ToList(), First(), Where(...), Select(np => np.parameter): the elements still come from the source.
            return next(invocation.Arguments[0].Value);
        }
        return null;
    }

    /// <summary>The expression a local was filled from: its initializer, or the collection of the foreach declaring it.</summary>
    private static IOperation? LocalSource(ILocalReferenceOperation local, CancellationToken cancellationToken)
    {
        var model = local.SemanticModel;
        var declaration = local.Local.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken);
        if (model is null || declaration is null)
        {
            return null;
        }
        var source = declaration switch
        {
            VariableDeclaratorSyntax { Initializer.Value: var initializer } => initializer,
            ForEachStatementSyntax forEach => forEach.Expression,
            _ => declaration.Ancestors().OfType<ForEachVariableStatementSyntax>().FirstOrDefault()?.Expression
                ?? declaration.Ancestors().OfType<AssignmentExpressionSyntax>().FirstOrDefault()?.Right,
        };
        return source is null ? null : model.GetOperation(source, cancellationToken);
    }

    /// <summary>For <c>xs.ForEach(p => ...)</c> or <c>xs.Where(p => ...)</c>: the sequence the lambda's parameter walks.</summary>
    private static IOperation? LambdaSource(IParameterReferenceOperation parameter, CancellationToken cancellationToken)
    {
        var model = parameter.SemanticModel;
        var lambda = parameter.Parameter.ContainingSymbol.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken);
        if (model is null || lambda?.Parent is not ArgumentSyntax { Parent.Parent: InvocationExpressionSyntax call })
        {
            return null;
        }
        return model.GetOperation(call, cancellationToken) is IInvocationOperation invocation
            ? invocation.TargetMethod.IsExtensionMethod ? invocation.Arguments.FirstOrDefault()?.Value : invocation.Instance
            : null;
    }
}
