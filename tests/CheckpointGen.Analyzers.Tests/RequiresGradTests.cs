using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.RequiresGradAnalyzer>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT011.</summary>
public sealed class RequiresGradTests
{
    private static string Model(string body) => $$"""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private readonly Linear head = nn.Linear(4, 2);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));

            public void Unfreeze()
            {
                {{body}}
            }
        }
        """;

    [Fact]
    public Task Foreach_over_parameters() => Verify.Analyzer(Model("""
        foreach (var p in vae.parameters()) { {|#0:p.requires_grad = true|}; }
        """), Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled).WithArguments("vae"));

    [Fact]
    public Task Foreach_over_named_parameters_deconstructed_and_as_tuple() => Verify.Analyzer(Model("""
        foreach (var (name, p) in vae.named_parameters()) { {|#0:p.requires_grad_()|}; }
        foreach (var np in vae.named_parameters()) { {|#1:np.parameter.requires_grad = true|}; }
        """),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 0).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 1).WithArguments("vae"));

    [Fact]
    public Task Linq_lambda_and_element_and_direct_parameter() => Verify.Analyzer(Model("""
        vae.parameters().ToList().ForEach(p => {|#0:p.requires_grad_(true)|});
        {|#1:vae.parameters().First().requires_grad = true|};
        var all = vae.parameters().ToArray();
        {|#2:all[0].requires_grad = true|};
        {|#3:vae.weight!.requires_grad = true|};
        """),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 0).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 1).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 2).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 3).WithArguments("vae"));

    [Fact]
    public Task A_pretrained_auto_property_is_followed_like_a_field() => Verify.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public Linear Vae { get; } = nn.Linear(4, 4);
            public Linear Head { get; } = nn.Linear(4, 2);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => Head.forward(Vae.forward(x));

            public void Unfreeze()
            {
                foreach (var p in Vae.parameters()) { {|#0:p.requires_grad = true|}; }
                {|#1:Vae.weight!.requires_grad = true|};
                foreach (var p in Head.parameters()) { p.requires_grad = true; }
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 0).WithArguments("Vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 1).WithArguments("Vae"));

    [Fact]
    public Task Trainable_parameters_and_turning_gradients_off_are_fine() => Verify.Analyzer(Model("""
        foreach (var p in head.parameters()) { p.requires_grad = true; }
        foreach (var p in vae.parameters()) { p.requires_grad = false; p.requires_grad_(false); }
        foreach (var p in TrainableParameters()) { p.requires_grad_(); }
        bool enabled = true;
        foreach (var p in vae.parameters()) { var copy = p.detach(); copy.requires_grad = enabled; }
        foreach (var p in vae.parameters()) { p.requires_grad = enabled; p.requires_grad_(enabled); }
        """));

    private const string Models = """
        public sealed class Encoder : nn.Module<Tensor, Tensor>
        {
            public readonly Linear stem = nn.Linear(4, 4);
            public Encoder() : base("e") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => stem.forward(x);
        }

        public partial class Captioner : nn.Module<Tensor, Tensor>
        {
            [Pretrained] public readonly Encoder vae = new();
            public readonly Linear head = nn.Linear(4, 2);
            public Captioner() : base("c") { RegisterComponents(); FreezePretrained(); }
            public Encoder Encoder => vae;
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }

        """;

    [Fact]
    public Task Submodules_properties_and_the_whole_model_are_followed() => Verify.Analyzer(Models + """
        public static class Training
        {
            public static void FineTune(Captioner model)
            {
                {|#0:model.vae.stem.weight!.requires_grad = true|};
                foreach (var p in model.Encoder.parameters()) { {|#1:p.requires_grad = true|}; }
                foreach (var (name, p) in model.named_parameters()) { {|#2:p.with_requires_grad(true)|}; }
                var encoder = model.vae;
                foreach (var child in encoder.children()) { foreach (var p in child.parameters()) { {|#3:p.requires_grad_()|}; } }
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 0).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 1).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 2).WithArguments("vae"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled, 3).WithArguments("vae"));

    /// <summary>A helper that turns gradients on for whatever it is given: flagged where it is given pretrained parameters.</summary>
    [Fact]
    public Task A_helper_is_flagged_where_it_is_given_the_pretrained_field() => Verify.Analyzer(Models + """
        public static class Gradients
        {
            public static void Unfreeze(nn.Module module)
            {
                foreach (var p in module.parameters()) p.requires_grad = true;
            }

            public static void Enable(Parameter p) => p.requires_grad_(true);
            public static void Deeper(nn.Module module) => Unfreeze(module);
        }

        public static class Training
        {
            public static void FineTune(Captioner model)
            {
                Gradients.Unfreeze({|#0:model.vae|});
                Gradients.Unfreeze(model.head);
                Gradients.Enable({|#1:model.vae.stem.weight!|});
                Gradients.Deeper({|#2:model|});
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabledInCall, 0).WithArguments("vae", "Gradients.Unfreeze"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabledInCall, 1).WithArguments("vae", "Gradients.Enable"),
        Verify.Diagnostic(DiagnosticDescriptors.RequiresGradEnabledInCall, 2).WithArguments("vae", "Gradients.Deeper"));

    /// <summary>A clone is a new tensor: it trains without touching the frozen weights.</summary>
    [Fact]
    public Task Clones_and_reassigned_locals_are_not_pretrained_parameters() => Verify.Analyzer(Models + """
        public static class Training
        {
            public static void Probe(Captioner model)
            {
                foreach (var p in model.vae.parameters())
                {
                    var copy = p.detach().clone();
                    copy.requires_grad = true;
                    p.clone().requires_grad_();
                }
                var parameters = model.vae.parameters();
                parameters = model.TrainableParameters();
                foreach (var p in parameters) p.requires_grad = true;
            }
        }
        """);
}
