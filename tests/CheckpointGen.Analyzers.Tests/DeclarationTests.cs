using System.Threading.Tasks;
using CheckpointGen.CodeFixes;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.PretrainedDeclarationAnalyzer, CheckpointGen.CodeFixes.AddPartialCodeFix>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT001-CKPT005.</summary>
public sealed class DeclarationTests
{
    [Fact]
    public Task Valid_model_has_no_diagnostic() => Verify.Analyzer("""
        public sealed partial class Captioner : nn.Module<Tensor, Tensor>
        {
            [Pretrained("vae.safetensors")] private readonly Linear vae = nn.Linear(4, 4);
            private readonly Linear head = nn.Linear(4, 2);
            public Captioner() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }
        """);

    [Fact]
    public Task CKPT001_type_not_partial_is_fixed_by_adding_partial() => Verify.CodeFix("""
        public sealed class {|#0:Captioner|} : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Captioner() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        // A comment that stays where it is.
        class {|#1:Bare|} : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Bare() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """, """
        public sealed partial class Captioner : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Captioner() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        // A comment that stays where it is.
        partial class Bare : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Bare() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NotPartial, 0).WithArguments("Captioner", "Captioner"),
        Verify.Diagnostic(DiagnosticDescriptors.NotPartial, 1).WithArguments("Bare", "Bare"));

    [Fact]
    public Task CKPT001_containing_type_not_partial() => Verify.CodeFix("""
        public static class {|#0:Models|}
        {
            public partial class Inner : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
                public Inner() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => vae.forward(x);
            }
        }
        """, """
        public static partial class Models
        {
            public partial class Inner : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
                public Inner() : base("m") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => vae.forward(x);
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NotPartial).WithArguments("Models", "Inner"));

    [Fact]
    public Task CKPT002_type_not_a_module() => Verify.Analyzer("""
        public partial class {|#0:Holder|}
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Tensor Run(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NotAModule).WithArguments("Holder"));

    [Fact]
    public Task CKPT003_static_field_and_field_of_a_non_module_type() => Verify.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private static readonly Linear {|#0:shared|} = nn.Linear(4, 4);
            [Pretrained] private readonly Tensor {|#1:scale|} = ones(4);
            public Model() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => shared.forward(x) * scale;
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 0).WithArguments("shared", "is static"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 1).WithArguments("scale", "has type 'Tensor', which is not a torch.nn.Module"));

    [Fact]
    public Task CKPT003_const_field_and_field_like_event() => Verify.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private const Linear? {|#0:none|} = null;
            [field: Pretrained] public event System.Action? {|#1:Changed|}, {|#2:Reset|};
            public Model() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => x;
        }

        public partial class Plain : nn.Module<Tensor, Tensor>
        {
            [field: System.NonSerialized] public event System.Action? Unrelated;
            public Plain() : base("p") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => x;
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 0).WithArguments("none", "is const"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 1).WithArguments("Changed", "is an event"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 2).WithArguments("Reset", "is an event"));

    [Fact]
    public Task CKPT003_static_property_and_property_without_getter_are_named_by_the_property() => Verify.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public static Linear {|#0:Shared|} { get; } = nn.Linear(4, 4);
            [field: Pretrained] public Linear {|#1:Encoder|} { set => field = value; }
            [field: Pretrained] public Tensor {|#2:Scale|} { get; } = ones(4);
            public Model() : base("m") { Encoder = nn.Linear(4, 4); RegisterComponents(); }
            public override Tensor forward(Tensor x) => Shared.forward(x) * Scale;
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 0).WithArguments("Shared", "is static"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 1).WithArguments("Encoder", "is a property without a getter"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidField, 2).WithArguments("Scale", "has type 'Tensor', which is not a torch.nn.Module"));

    [Fact]
    public Task CKPT004_pretrained_fields_on_two_levels_of_a_hierarchy() => Verify.Analyzer("""
        public partial class Base : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear encoder = nn.Linear(4, 4);
            public Base() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => encoder.forward(x);
        }

        public partial class {|#0:Derived|} : Base
        {
            [Pretrained] private readonly Linear second = nn.Linear(4, 4);
        }

        public partial class Plain : Base
        {
            private readonly Linear head = nn.Linear(4, 4);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.PretrainedInDerivedModel).WithArguments("Derived", "Base"));

    [Fact]
    public Task CKPT005_file_local_model_type() => Verify.Analyzer("""
        file sealed partial class {|#0:Hidden|} : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Hidden() : base("m") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        file sealed class Helper
        {
            private readonly Hidden model = new();
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.FileLocal).WithArguments("Hidden", "Hidden"));

    [Fact]
    public Task CKPT005_file_local_containing_type() => Verify.Analyzer("""
        file static partial class {|#0:Models|}
        {
            public static partial class Group
            {
                public partial class Inner : nn.Module<Tensor, Tensor>
                {
                    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
                    public Inner() : base("m") { RegisterComponents(); }
                    public override Tensor forward(Tensor x) => vae.forward(x);
                }
            }
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.FileLocal).WithArguments("Models", "Inner"));

    [Fact]
    public Task Auto_property_marked_for_its_backing_field_is_valid() => Verify.Analyzer("""
        public sealed partial class Captioner : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained("vae.safetensors")] public Linear Vae { get; } = nn.Linear(4, 4);
            private readonly Linear head = nn.Linear(4, 2);
            public Captioner() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(Vae.forward(x));
        }
        """);

    [Fact]
    public Task Field_typed_by_a_type_parameter_constrained_to_a_module_is_valid() => Verify.Analyzer("""
        public partial class Adapter<TEncoder> : nn.Module<Tensor, Tensor> where TEncoder : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly TEncoder encoder;
            public Adapter(TEncoder encoder) : base("m") { this.encoder = encoder; RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => encoder.forward(x);
        }
        """);
}
