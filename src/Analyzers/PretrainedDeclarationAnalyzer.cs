using System;
using System.Collections.Immutable;
using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace CheckpointGen.Analyzers;

/// <summary>CKPT001-005: every rule of <see cref="PretrainedDeclarationRules"/> a declaration breaks, where the code must change.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PretrainedDeclarationAnalyzer : CheckpointAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.NotPartial,
        DiagnosticDescriptors.NotAModule,
        DiagnosticDescriptors.InvalidField,
        DiagnosticDescriptors.PretrainedInDerivedModel,
        DiagnosticDescriptors.FileLocal);

    private protected override void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols)
    {
        start.RegisterSymbolAction(context =>
        {
            foreach (var violation in symbols.Rules.Violations((INamedTypeSymbol)context.Symbol, context.CancellationToken))
            {
                context.ReportDiagnostic(Report(violation));
            }
        }, SymbolKind.NamedType);
        start.RegisterSyntaxNodeAction(context =>
        {
            foreach (var violation in symbols.Rules.EventViolations((EventFieldDeclarationSyntax)context.Node, context.SemanticModel, context.CancellationToken))
            {
                context.ReportDiagnostic(Report(violation));
            }
        }, SyntaxKind.EventFieldDeclaration);
    }

    private static Diagnostic Report(RuleViolation violation) => Diagnostic.Create(Descriptor(violation.Rule), violation.Location, violation.Arguments);

    private static DiagnosticDescriptor Descriptor(PretrainedRule rule) => rule switch
    {
        PretrainedRule.Partial => DiagnosticDescriptors.NotPartial,
        PretrainedRule.DerivesFromModule => DiagnosticDescriptors.NotAModule,
        PretrainedRule.ModuleInstanceMember => DiagnosticDescriptors.InvalidField,
        PretrainedRule.OneModelPerHierarchy => DiagnosticDescriptors.PretrainedInDerivedModel,
        PretrainedRule.NotFileLocal => DiagnosticDescriptors.FileLocal,
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "A rule without a diagnostic."),
    };
}
