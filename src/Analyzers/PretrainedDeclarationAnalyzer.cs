using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT001-004: the declarations the generator has to skip, reported where the code must change.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PretrainedDeclarationAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticDescriptors.NotPartial, DiagnosticDescriptors.NotAModule, DiagnosticDescriptors.InvalidField, DiagnosticDescriptors.PretrainedInDerivedModel);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        start.RegisterSymbolAction(symbol => Analyze(symbol, symbols), SymbolKind.NamedType);
    }

    private static void Analyze(SymbolAnalysisContext context, CheckpointSymbols symbols)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        var fields = type.GetMembers().OfType<IFieldSymbol>().Where(symbols.IsPretrained).ToArray();
        foreach (var field in fields)
        {
            var problem = field.IsStatic ? "is static"
                : !symbols.IsModule(field.Type) ? $"has type '{field.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}', which is not a torch.nn.Module"
                : null;
            if (problem is not null)
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InvalidField, field.Locations[0], field.Name, problem));
            }
        }
        if (fields.Length > 0 && !symbols.IsModule(type))
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NotAModule, type.Locations[0], type.Name));
        }
        if (fields.Length > 0 && symbols.CheckpointableBase(type) is { } baseModel)
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.PretrainedInDerivedModel, type.Locations[0], type.Name, baseModel.Name));
        }

        // A type needs 'partial' when it has [Pretrained] fields itself or encloses a type that has.
        var modelType = fields.Length > 0 ? type : NestedModelType(type, symbols);
        if (modelType is null)
        {
            return;
        }
        foreach (var reference in type.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(context.CancellationToken) is TypeDeclarationSyntax declaration && !declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NotPartial, declaration.Identifier.GetLocation(), type.Name, modelType.Name));
            }
        }
    }

    private static INamedTypeSymbol? NestedModelType(INamedTypeSymbol type, CheckpointSymbols symbols)
    {
        foreach (var nested in type.GetTypeMembers())
        {
            if (nested.GetMembers().OfType<IFieldSymbol>().Any(symbols.IsPretrained))
            {
                return nested;
            }
            if (NestedModelType(nested, symbols) is { } deeper)
            {
                return deeper;
            }
        }
        return null;
    }
}
