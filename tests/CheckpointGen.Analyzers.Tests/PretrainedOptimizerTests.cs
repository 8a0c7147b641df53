using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.PretrainedOptimizerAnalyzer, CheckpointGen.CodeFixes.UseTrainableParametersCodeFix>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT012.</summary>
public sealed class PretrainedOptimizerTests
{
    private static string Model(string body) => $$"""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private readonly Linear head = nn.Linear(4, 2);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));

            public optim.Optimizer Optimizer()
            {
                {{body}}
            }
        }
        """;

    [Fact]
    public Task Factory_and_constructor_are_fixed_to_TrainableParameters() => Verify.CodeFix(
        Model("""
            var sgd = optim.SGD({|#0:vae.parameters().Concat(head.parameters())|}, 0.1);
            var named = optim.Adam({|#1:vae.named_parameters()|});
            return new Adam({|#2:vae.parameters()|}, lr: 0.01);
            """),
        Model("""
            var sgd = optim.SGD(TrainableParameters(), 0.1);
            var named = optim.Adam(TrainableParameters());
            return new Adam(TrainableParameters(), lr: 0.01);
            """),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 1).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 2).WithArguments("vae"));

    [Fact]
    public Task Outside_the_model_the_diagnostic_has_no_fix() => Verify.NoFix("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] public readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public static class Training
        {
            public static Adam Optimizer(Model model) => optim.Adam({|#0:model.vae.parameters()|});
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized).WithArguments("vae"));

    [Fact]
    public Task A_pretrained_auto_property_is_named_and_fixed_like_a_field() => Verify.CodeFix("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public Linear Vae { get; } = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => Vae.forward(x);
            public optim.Optimizer Optimizer() => optim.Adam({|#0:this.Vae.parameters()|});
        }
        """, """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public Linear Vae { get; } = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => Vae.forward(x);
            public optim.Optimizer Optimizer() => optim.Adam(TrainableParameters());
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("Vae"));

    [Fact]
    public Task Trainable_parameters_are_fine() => Verify.Analyzer(Model("""
        var head_only = optim.AdamW(head.parameters());
        var counted = vae.parameters().Count();
        return optim.Adam(TrainableParameters(), lr: 0.001);
        """));
}
