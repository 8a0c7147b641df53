using System.Diagnostics.CodeAnalysis;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace CheckpointGen.Analyzers.Flow;

/// <summary>The operation tree of a method, property getter or local function declared in the compilation.</summary>
internal sealed class SourceBodies(Compilation compilation)
{
    /// <summary>True when the method's code is in this compilation, in one declaration with a body.</summary>
    public bool HasBody(IMethodSymbol method)
        => !method.IsAbstract && !method.IsExtern
            && method.DeclaringSyntaxReferences.Length == 1
            && SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, compilation.Assembly)
            && method.DeclaringSyntaxReferences[0].GetSyntax() switch
            {
                BaseMethodDeclarationSyntax declaration => declaration.Body is not null || declaration.ExpressionBody is not null,
                AccessorDeclarationSyntax accessor => accessor.Body is not null || accessor.ExpressionBody is not null,
                LocalFunctionStatementSyntax function => function.Body is not null || function.ExpressionBody is not null,
                ArrowExpressionClauseSyntax => true,
                _ => false,
            };

    /// <summary>The method's body (a block, or an expression body's block), or <see langword="null"/>.</summary>
    public IOperation? Body(IMethodSymbol method, CancellationToken cancellationToken)
        => HasBody(method) && Operation(method.DeclaringSyntaxReferences[0].GetSyntax(cancellationToken), cancellationToken) is { } operation
            ? operation switch
            {
                IMethodBodyOperation body => (IOperation?)body.BlockBody ?? body.ExpressionBody,
                ILocalFunctionOperation function => function.Body,
                var other => other,
            }
            : null;

    /// <summary>The initializer of a field declared in this compilation (<c>= nn.Linear(4, 4)</c>), or <see langword="null"/>.</summary>
    public IOperation? Initializer(IFieldSymbol field, CancellationToken cancellationToken)
        => field.DeclaringSyntaxReferences.Length == 1 && field.DeclaringSyntaxReferences[0].GetSyntax(cancellationToken) is VariableDeclaratorSyntax { Initializer: { } initializer }
            ? Operation(initializer, cancellationToken)
            : null;

    /// <summary>The operation of a node of this compilation (an expression, a method's declaration), or <see langword="null"/>.</summary>
    [SuppressMessage("MicrosoftCodeAnalysisCorrectness", "RS1030:Do not invoke Compilation.GetSemanticModel() method within a diagnostic analyzer",
        Justification = "Following a value into a method or field declared in another file, or reading the code of a type a pretrained part holds, needs that file's semantic model; no analysis context offers it. Under the analyzer driver the compilation hands out its cached models, and each method is summarized once per compilation.")]
    public IOperation? Operation(SyntaxNode syntax, CancellationToken cancellationToken)
        => compilation.ContainsSyntaxTree(syntax.SyntaxTree)
            ? compilation.GetSemanticModel(syntax.SyntaxTree).GetOperation(syntax, cancellationToken)
            : null;
}
