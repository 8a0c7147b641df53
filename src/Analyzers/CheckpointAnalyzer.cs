using Microsoft.CodeAnalysis.Diagnostics;

namespace CheckpointGen.Analyzers;

/// <summary>
/// What every CheckpointGen analyzer does the same way: concurrent, never on generated code, and only in compilations
/// that reference CheckpointGen and TorchSharp, with their symbols resolved once.
/// </summary>
public abstract class CheckpointAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public sealed override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (CheckpointSymbols.Create(start.Compilation) is { } symbols)
            {
                Register(start, symbols);
            }
        });
    }

    /// <summary>Registers the analyzer's actions for one compilation.</summary>
    private protected abstract void Register(CompilationStartAnalysisContext start, CheckpointSymbols symbols);
}
