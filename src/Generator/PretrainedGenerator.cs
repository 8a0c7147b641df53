using CheckpointGen.Generator.Models;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CheckpointGen.Generator;

/// <summary>
/// Writes, for each partial <c>torch.nn.Module</c> type with <c>[Pretrained]</c> members, its <c>ICheckpointable</c>
/// members, all types in one file. Declarations that break a rule of <see cref="PretrainedDeclarationRules"/> are skipped;
/// the analyzers report them.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class PretrainedGenerator : IIncrementalGenerator
{
    /// <summary>The step names tests use to check that the pipeline caches.</summary>
    internal static class TrackingNames
    {
        public const string Fields = nameof(Fields);
        public const string Properties = nameof(Properties);
        public const string Calls = nameof(Calls);
        public const string Types = nameof(Types);
    }

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var fields = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                PretrainedDeclarationRules.PretrainedAttributeName,
                static (node, _) => node is VariableDeclaratorSyntax,
                static (attributeContext, cancellationToken) => Parser.ParseField(attributeContext, cancellationToken))
            .Where(static target => target is not null)
            .Select(static (target, _) => target!)
            .WithTrackingName(TrackingNames.Fields);

        // [field: Pretrained] on a property sits on its backing field, and ForAttributeWithMetadataName reads only the
        // property's own attributes: a syntax filter finds these declarations instead.
        var properties = context.SyntaxProvider
            .CreateSyntaxProvider(
                static (node, _) => Parser.HasFieldTargetedAttributes(node),
                static (syntaxContext, cancellationToken) => Parser.ParseProperty(syntaxContext, cancellationToken))
            .Where(static target => target is not null)
            .Select(static (target, _) => target!)
            .WithTrackingName(TrackingNames.Properties);

        // FreezePretrained(), TrainableParameters() and LoadPretrained() are written into a type only where code calls them
        // without 'this.' (elsewhere the runtime's extension methods serve): found wherever they are, in any file, and
        // handed to the model type they must be found in by its key, so a call added in another file regenerates that type.
        var calls = context.SyntaxProvider
            .CreateSyntaxProvider(
                static (node, _) => Parser.IsSimpleNameOfCalledMember(node),
                static (syntaxContext, cancellationToken) => Parser.ParseCall(syntaxContext, cancellationToken))
            .Where(static call => call is not null)
            .Select(static (call, _) => call!)
            .WithTrackingName(TrackingNames.Calls);

        var types = fields.Collect()
            .Combine(properties.Collect())
            .Combine(calls.Collect())
            .SelectMany(static (inputs, _) => ModelType.Group(inputs.Left.Left.AddRange(inputs.Left.Right), inputs.Right))
            .WithTrackingName(TrackingNames.Types);

        // From C# 14 on, model.PretrainedPrefixes finds the runtime's extension property; before, the type needs its own.
        var prefixesProperty = context.ParseOptionsProvider
            .Select(static (options, _) => !Parser.HasExtensionProperties(options));

        context.RegisterSourceOutput(
            types.Collect().Combine(prefixesProperty),
            static (output, input) =>
            {
                if (!input.Left.IsEmpty)
                {
                    output.AddSource(Emitter.FileName, Emitter.Emit(input.Left, input.Right));
                }
            });
    }
}
