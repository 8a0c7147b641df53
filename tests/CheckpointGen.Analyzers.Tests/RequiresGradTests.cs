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
}
