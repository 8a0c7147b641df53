using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.FreezeInConstructorAnalyzer, CheckpointGen.CodeFixes.InsertFreezeCodeFix>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT010.</summary>
public sealed class FreezeInConstructorTests
{
    [Theory]
    [InlineData("FreezePretrained();")]
    [InlineData("LoadPretrained();")]
    [InlineData("this.FreezePretrained();")]
    public Task Constructor_that_freezes_has_no_diagnostic(string call) => Verify.Analyzer($$"""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); {{call}} }
            public Model(int seed) : this() { }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """);

    [Fact]
    public Task Model_without_pretrained_fields_has_no_diagnostic() => Verify.Analyzer("""
        public class Plain : nn.Module<Tensor, Tensor>
        {
            private readonly Linear head = nn.Linear(4, 4);
            public Plain() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => head.forward(x);
        }
        """);

    /// <summary>One constructor that freezes satisfies the rule, so one fix settles both diagnostics; Fix All fixes both constructors.</summary>
    [Fact]
    public Task Freeze_is_inserted_after_RegisterComponents_in_the_constructors_that_run_their_own_body() => Verify.CodeFix("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae;
            private readonly Linear head;

            public {|#0:Model|}() : base("m")
            {
                vae = nn.Linear(4, 4);
                head = nn.Linear(4, 2);
                RegisterComponents();
                head.weight!.requires_grad = true;
            }

            public {|#1:Model|}(Linear vae) : base("m")
            {
                this.vae = vae;
                head = nn.Linear(4, 2);
                RegisterComponents();
            }

            public Model(int features) : this() { }

            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }
        """, """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae;
            private readonly Linear head;

            public Model() : base("m")
            {
                vae = nn.Linear(4, 4);
                head = nn.Linear(4, 2);
                RegisterComponents();
                FreezePretrained();
                head.weight!.requires_grad = true;
            }

            public Model(Linear vae) : base("m")
            {
                this.vae = vae;
                head = nn.Linear(4, 2);
                RegisterComponents();
            }

            public Model(int features) : this() { }

            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }
        """, """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae;
            private readonly Linear head;

            public Model() : base("m")
            {
                vae = nn.Linear(4, 4);
                head = nn.Linear(4, 2);
                RegisterComponents();
                FreezePretrained();
                head.weight!.requires_grad = true;
            }

            public Model(Linear vae) : base("m")
            {
                this.vae = vae;
                head = nn.Linear(4, 2);
                RegisterComponents();
                FreezePretrained();
            }

            public Model(int features) : this() { }

            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Model"),
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 1).WithArguments("Model"));

    [Fact]
    public Task Freeze_goes_at_the_end_without_RegisterComponents_and_an_expression_body_becomes_a_block() => Verify.CodeFix("""
        public partial class Manual : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);

            public {|#0:Manual|}() : base("m")
            {
                register_module("trunk", vae);
            }

            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public partial class Arrow : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);

            public {|#1:Arrow|}() : base("m") => RegisterComponents();

            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """, """
        public partial class Manual : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);

            public Manual() : base("m")
            {
                register_module("trunk", vae);
                FreezePretrained();
            }

            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public partial class Arrow : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);

            public Arrow() : base("m")
            {
                RegisterComponents();
                FreezePretrained();
            }

            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Manual"),
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 1).WithArguments("Arrow"));

    [Fact]
    public Task Freezing_another_model_does_not_count() => Verify.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public {|#0:Model|}(Model other) : base("m") { RegisterComponents(); other.FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen).WithArguments("Model"));
}
