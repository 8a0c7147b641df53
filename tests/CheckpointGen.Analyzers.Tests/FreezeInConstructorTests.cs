using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.FreezeInConstructorAnalyzer, CheckpointGen.CodeFixes.InsertFreezeCodeFix>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT010.</summary>
public sealed class FreezeInConstructorTests
{
    private const string Register = "call FreezePretrained() after RegisterComponents()";

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
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Model", Register),
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 1).WithArguments("Model", Register));

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
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Manual", Register),
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 1).WithArguments("Arrow", Register));

    [Fact]
    public Task Freezing_another_model_does_not_count() => Verify.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public {|#0:Model|}(Model other) : base("m") { RegisterComponents(); other.FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen).WithArguments("Model", Register));

    [Fact]
    public Task A_freeze_in_a_method_the_constructor_calls_counts() => Verify.Analyzer("""
        public partial class Helper : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Helper() : base("m") { RegisterComponents(); Setup(); }
            private void Setup() => Prepare(load: false);
            private void Prepare(bool load) { if (load) LoadPretrained(); else FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public static class Freezer
        {
            public static void Freeze(ICheckpointable model) => model.FreezePretrained();
        }

        public partial class Handed : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Handed() : base("m") { RegisterComponents(); Freezer.Freeze(this); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public partial class Local : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Local() : base("m")
            {
                RegisterComponents();
                Freeze();
                void Freeze() => this.FreezePretrained();
            }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """);

    /// <summary>A lambda may never run, and a local function never called does not run: neither counts.</summary>
    [Fact]
    public Task A_freeze_in_a_lambda_or_an_uncalled_local_function_does_not_count() => Verify.CodeFix("""
        public partial class Lazy : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private readonly System.Action freeze;
            public {|#0:Lazy|}() : base("m")
            {
                RegisterComponents();
                freeze = () => FreezePretrained();
                void Unused() => FreezePretrained();
            }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """, """
        public partial class Lazy : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private readonly System.Action freeze;
            public Lazy() : base("m")
            {
                RegisterComponents();
                FreezePretrained();
                freeze = () => FreezePretrained();
                void Unused() => FreezePretrained();
            }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Lazy", Register));

    /// <summary>The abstract base registers nothing: the derived type's constructor freezes, or is where the fix belongs.</summary>
    [Fact]
    public Task A_derived_constructor_freezes_an_abstract_base() => Verify.Analyzer("""
        public abstract partial class Backbone : nn.Module<Tensor, Tensor>
        {
            [Pretrained] protected readonly Linear encoder = nn.Linear(4, 4);
            protected Backbone(string name) : base(name) { }
        }

        public sealed class Classifier : Backbone
        {
            private readonly Linear head = nn.Linear(4, 2);
            public Classifier() : base("c") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
        }
        """);

    /// <summary>A base with protected constructors only is built by derived types alone, as an abstract one is.</summary>
    [Fact]
    public Task A_derived_constructor_freezes_a_base_with_protected_constructors_only() => Verify.Analyzer("""
        public partial class Backbone : nn.Module<Tensor, Tensor>
        {
            [Pretrained] protected readonly Linear encoder = nn.Linear(4, 4);
            protected Backbone(string name) : base(name) { }
            protected Backbone() : this("b") { }
            public override Tensor forward(Tensor x) => encoder.forward(x);
        }

        public sealed class Classifier : Backbone
        {
            private readonly Linear head = nn.Linear(4, 2);
            public Classifier() : base("c") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
        }
        """);

    /// <summary>With one constructor anyone can call, the base is built as it is, and its own constructors must freeze.</summary>
    [Fact]
    public Task A_base_with_a_public_constructor_is_not_frozen_by_a_derived_type() => Verify.Analyzer("""
        public partial class Backbone : nn.Module<Tensor, Tensor>
        {
            [Pretrained] protected readonly Linear encoder = nn.Linear(4, 4);
            protected {|#0:Backbone|}(string name) : base(name) { }
            public {|#1:Backbone|}() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => encoder.forward(x);
        }

        public sealed class Classifier : Backbone
        {
            private readonly Linear head = nn.Linear(4, 2);
            public Classifier() : base("c") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Backbone", Register),
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 1).WithArguments("Backbone", Register));

    /// <summary>Never into an abstract base's constructor that registers nothing: freezing there would throw.</summary>
    [Fact]
    public Task An_abstract_base_nothing_freezes_gets_no_fix_in_its_constructor() => Verify.NoFix("""
        public abstract partial class Backbone : nn.Module<Tensor, Tensor>
        {
            [Pretrained] protected readonly Linear encoder = nn.Linear(4, 4);
            protected {|#0:Backbone|}(string name) : base(name) { }
        }

        public sealed class Classifier : Backbone
        {
            private readonly Linear head = nn.Linear(4, 2);
            public Classifier() : base("c") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Backbone",
            "call FreezePretrained() after RegisterComponents() in the constructors of the types deriving from it"));

    [Fact]
    public Task A_factory_that_freezes_every_instance_it_creates_counts() => Verify.Analyzer("""
        public partial class Built : nn.Module<Tensor, Tensor>
        {
            [Pretrained("w.safetensors")] private readonly Linear vae = nn.Linear(4, 4);
            private Built() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);

            public static Built Create()
            {
                var model = new Built();
                model.LoadPretrained();
                return model;
            }

            public static Built CreateFrozen()
            {
                Built model;
                model = new Built();
                model.FreezePretrained();
                return model;
            }
        }
        """);

    [Fact]
    public Task A_factory_is_not_enough_where_the_constructor_is_public_or_an_instance_escapes() => Verify.Analyzer("""
        public partial class Open : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public {|#0:Open|}() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public static Open Create() { var model = new Open(); model.FreezePretrained(); return model; }
        }

        public partial class Leaky : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private {|#1:Leaky|}() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public static Leaky Create() { var model = new Leaky(); model.FreezePretrained(); return model; }
            public static Leaky Raw() => new Leaky();
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Open", Register),
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 1).WithArguments("Leaky", Register));

    /// <summary>Comments around an expression body stay where they were written when it becomes a block.</summary>
    [Fact]
    public Task The_fix_keeps_the_comments_of_an_expression_bodied_constructor() => Verify.CodeFix("""
        public partial class Arrow : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);

            public {|#0:Arrow|}() : base("m") => RegisterComponents(); // registers vae

            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """, """
        public partial class Arrow : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);

            public Arrow() : base("m")
            {
                RegisterComponents(); // registers vae
                FreezePretrained();
            }

            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NeverFrozen, 0).WithArguments("Arrow", Register));
}
