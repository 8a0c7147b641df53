using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.PretrainedOptimizerAnalyzer, CheckpointGen.CodeFixes.UseTrainableParametersCodeFix>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT012. Every fix is applied one by one and with Fix All, and the result compiles with the generator's output.</summary>
public sealed class PretrainedOptimizerTests
{
    private const string Model = """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] public readonly Linear vae = nn.Linear(4, 4);
            public readonly Linear head = nn.Linear(4, 2);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }

        """;

    private static string InModel(string body) => $$"""
        public partial class Tagger : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private readonly Linear head = nn.Linear(4, 2);
            public Tagger() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));

            {{body}}
        }
        """;

    [Fact]
    public Task Inside_the_model_the_fix_passes_TrainableParameters() => Verify.CodeFix(
        InModel("""
            public optim.Optimizer Optimizer()
            {
                var sgd = optim.SGD({|#0:vae.parameters().Concat(head.parameters())|}, 0.1);
                var named = optim.Adam({|#1:vae.named_parameters()|});
                var all = optim.Adam({|#2:this.parameters()|});
                return new Adam({|#3:vae.parameters()|}, lr: 0.01);
            }
            """),
        InModel("""
            public optim.Optimizer Optimizer()
            {
                var sgd = optim.SGD(TrainableParameters(), 0.1);
                var named = optim.Adam(TrainableParameters());
                var all = optim.Adam(TrainableParameters());
                return new Adam(TrainableParameters(), lr: 0.01);
            }
            """),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae", "TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 1).WithArguments("vae", "TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 2).WithArguments("vae", "TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 3).WithArguments("vae", "TrainableParameters()"));

    /// <summary>A static member has no 'this', and another instance is another model: the fix uses the receiver the code reads the field on.</summary>
    [Fact]
    public Task The_fix_uses_the_receiver_of_the_field() => Verify.CodeFix(
        InModel("""
            public static Adam Make(Tagger m) => optim.Adam({|#0:m.vae.parameters()|});
            public Adam Distil(Tagger other) => optim.Adam({|#1:other.vae.parameters()|}, lr: 1e-4);
            public Adam Teacher(Tagger other)
            {
                var encoder = other.vae;
                return optim.Adam({|#2:encoder.parameters()|});
            }
            """),
        InModel("""
            public static Adam Make(Tagger m) => optim.Adam(m.TrainableParameters());
            public Adam Distil(Tagger other) => optim.Adam(other.TrainableParameters(), lr: 1e-4);
            public Adam Teacher(Tagger other)
            {
                var encoder = other.vae;
                return optim.Adam(other.TrainableParameters());
            }
            """),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae", "m.TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 1).WithArguments("vae", "other.TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 2).WithArguments("vae", "other.TrainableParameters()"));

    [Fact]
    public Task Outside_the_model_the_fix_passes_the_models_TrainableParameters() => Verify.CodeFix(Model + """
        public static class Training
        {
            public static Adam Optimizer(Model model) => optim.Adam({|#0:model.vae.parameters()|});
            public static Adam Everything(Model model) => optim.Adam({|#1:model.parameters()|}, lr: 1e-3);
            public static Adam Property(Holder holder) => optim.Adam({|#2:holder.Model.vae.parameters()|});
        }

        public sealed class Holder
        {
            public Model Model { get; } = new();
        }
        """, Model + """
        public static class Training
        {
            public static Adam Optimizer(Model model) => optim.Adam(model.TrainableParameters());
            public static Adam Everything(Model model) => optim.Adam(model.TrainableParameters(), lr: 1e-3);
            public static Adam Property(Holder holder) => optim.Adam(holder.Model.TrainableParameters());
        }

        public sealed class Holder
        {
            public Model Model { get; } = new();
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae", "model.TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 1).WithArguments("vae", "model.TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 2).WithArguments("vae", "holder.Model.TrainableParameters()"));

    /// <summary>
    /// No fix where TrainableParameters() would not mean the same model or would not fit: a receiver computed by a call, a local
    /// assigned twice, parameter groups, add_param_group, and an enclosing model without generated members.
    /// </summary>
    [Fact]
    public Task No_fix_where_it_would_change_the_meaning_or_not_compile() => Verify.NoFix(Model + """
        public class Pipeline : nn.Module<Tensor, Tensor>
        {
            private readonly Model inner = new();
            public Pipeline() : base("p") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => inner.forward(x);
        }

        public static class Training
        {
            private static Model Load() => new();

            public static void Optimizers(Model first, Model second, Pipeline pipeline, Adam existing)
            {
                var made = optim.Adam({|#0:Load().vae.parameters()|});
                var m = first;
                var parameters = m.vae.parameters();
                m = second;
                var swapped = optim.Adam({|#1:parameters|});
                var groups = optim.Adam({|#2:new[] { new Adam.ParamGroup(first.vae.parameters(), 1e-5) }|});
                existing.add_param_group({|#3:new Adam.ParamGroup(first.vae.parameters(), 1e-5)|});
                var all = optim.Adam({|#4:pipeline.parameters()|});
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae", "the TrainableParameters() of the 'Model'"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 1).WithArguments("vae", "the TrainableParameters() of the 'Model'"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 2).WithArguments("vae", "first.TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 3).WithArguments("vae", "first.TrainableParameters()"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 4)
            .WithArguments("inner.vae", "new CheckpointPolicy(pipeline).TrainableParameters() ('Pipeline' has no generated members)"));

    /// <summary>
    /// In a type deriving from a model of the same project the fix writes <c>TrainableParameters()</c> unqualified too: the
    /// generator writes the member into the model once the call is there, and the fixed code builds.
    /// </summary>
    [Fact]
    public Task In_a_type_deriving_from_the_model_the_fix_passes_TrainableParameters() => Verify.CodeFix(Model + """
        public sealed class FineTuned : Model
        {
            public optim.Optimizer Optimizer() => optim.Adam({|#0:vae.parameters()|});
        }
        """, Model + """
        public sealed class FineTuned : Model
        {
            public optim.Optimizer Optimizer() => optim.Adam(TrainableParameters());
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae", "TrainableParameters()"));

    /// <summary>
    /// A model compiled in another project has <c>TrainableParameters()</c> as a member only if its own code called it so:
    /// a type deriving from it gets <c>this.TrainableParameters()</c>, the extension method.
    /// </summary>
    [Fact]
    public Task In_a_type_deriving_from_a_model_of_another_project_the_fix_passes_this_TrainableParameters() => Verify.CodeFixWithLibrary(Model, """
        public sealed class FineTuned : Model
        {
            public optim.Optimizer Optimizer() => optim.Adam({|#0:vae.parameters()|});
        }
        """, """
        public sealed class FineTuned : Model
        {
            public optim.Optimizer Optimizer() => optim.Adam(this.TrainableParameters());
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("vae", "this.TrainableParameters()"));

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
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized, 0).WithArguments("Vae", "TrainableParameters()"));

    [Fact]
    public Task A_helper_given_pretrained_parameters_is_flagged_at_the_argument() => Verify.NoFix(Model + """
        public static class Training
        {
            private static Adam MakeOptimizer(nn.Module module, double lr) => optim.Adam(module.parameters(), lr);
            private static SGD Plain(System.Collections.Generic.IEnumerable<Parameter> parameters) => optim.SGD(parameters, 0.1);

            public static void Optimizers(Model model)
            {
                var a = MakeOptimizer({|#0:model.vae|}, 1e-3);
                var b = Plain({|#1:model.parameters()|});
                var c = MakeOptimizer(model.head, 1e-3);
                var d = Plain(model.TrainableParameters());
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimizedInCall, 0).WithArguments("vae", "Training.MakeOptimizer", "the TrainableParameters() of the 'Model'"),
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimizedInCall, 1).WithArguments("vae", "Training.Plain", "the TrainableParameters() of the 'Model'"));

    [Fact]
    public Task Trainable_parameters_are_fine() => Verify.Analyzer(InModel("""
        public optim.Optimizer Optimizer()
        {
            var head_only = optim.AdamW(head.parameters());
            var counted = vae.parameters().Count();
            var parameters = vae.parameters();
            parameters = TrainableParameters();
            var reassigned = optim.Adam(parameters);
            return optim.Adam(TrainableParameters(), lr: 0.001);
        }
        """));
}
