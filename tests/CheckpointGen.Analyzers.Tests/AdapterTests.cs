using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.AdapterDeclarationAnalyzer>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT030 and CKPT031; and CKPT011 and CKPT012 stay quiet about an adapter's parameters.</summary>
public sealed class AdapterTests
{
    /// <summary>A block with an adapter, held by a model's pretrained part in the way <paramref name="holding"/> says.</summary>
    private static string Held(string holding, string block = "Block") => $$"""
        internal sealed class {{block}} : nn.Module<Tensor, Tensor>
        {
            private readonly Linear attention = nn.Linear(4, 4);
            [Adapter] private readonly Linear adapter = nn.Linear(4, 4);
            public {{block}}() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => attention.forward(x) + adapter.forward(x);
        }

        internal sealed partial class Model : nn.Module<Tensor, Tensor>
        {
            {{holding}}
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => x;
        }
        """;

    [Theory]
    [InlineData("[Pretrained] private readonly Block backbone = new();")]
    [InlineData("[field: Pretrained] public Block Backbone { get; } = new();")]
    [InlineData("[Pretrained] private readonly ModuleList<Block> layers = nn.ModuleList(new Block());")]
    [InlineData("[Pretrained] private readonly nn.Module<Tensor, Tensor> backbone = new Block();")]
    [InlineData("[Pretrained] private readonly Sequential backbone = nn.Sequential(nn.Linear(4, 4));")]
    [InlineData("[Pretrained] private readonly Trunk trunk = new(); internal sealed class Trunk : nn.Module { public Trunk() : base(\"t\") { register_module(\"block\", new Block()); } }")]
    public Task An_adapter_in_a_module_type_a_pretrained_part_holds_is_fine(string holding) => Verify.Analyzer(Held(holding));

    [Fact]
    public Task An_adapter_property_and_an_adapter_in_a_base_or_derived_type_are_fine() => Verify.Analyzer("""
        internal class BaseBlock : nn.Module<Tensor, Tensor>
        {
            [Adapter] private readonly Linear inherited = nn.Linear(4, 4);
            public BaseBlock() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => inherited.forward(x);
        }

        internal sealed class DerivedBlock : BaseBlock
        {
            [field: Adapter] public Linear Extra { get; } = nn.Linear(4, 4);
        }

        internal sealed class OtherBlock : nn.Module<Tensor, Tensor>
        {
            [Adapter] private readonly Linear {|#0:adapter|} = nn.Linear(4, 4);
            public OtherBlock() : base("o") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => adapter.forward(x);
        }

        internal sealed class OtherDerived : OtherBase { }
        internal class OtherBase : nn.Module<Tensor, Tensor>
        {
            public OtherBase() : base("o") { }
            public override Tensor forward(Tensor x) => x;
        }

        internal sealed partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly DerivedBlock first = new();
            [Pretrained] private readonly BaseBlock second = new();
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => x;
        }
        """,
        // OtherBlock: held by nothing pretrained, whichever way.
        Verify.Diagnostic(DiagnosticDescriptors.AdapterOutsidePretrained)
            .WithArguments("adapter", "no [Pretrained] field of this project holds a 'OtherBlock' and no other project can see the type"));

    [Fact]
    public Task A_public_block_of_a_library_may_be_held_by_another_projects_pretrained_part() => Verify.Analyzer("""
        public sealed class Block : nn.Module<Tensor, Tensor>
        {
            [Adapter] private readonly Linear adapter = nn.Linear(4, 4);
            public Block() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => adapter.forward(x);
        }
        """);

    [Fact]
    public Task CKPT031_an_internal_block_held_only_by_trainable_fields() => Verify.Analyzer(Held("""
        [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
            private readonly Block head = new();
        """).Replace("[Adapter] private readonly Linear adapter", "[Adapter] private readonly Linear {|#0:adapter|}"),
        Verify.Diagnostic(DiagnosticDescriptors.AdapterOutsidePretrained)
            .WithArguments("adapter", "no [Pretrained] field of this project holds a 'Block' and no other project can see the type"));

    [Fact]
    public Task CKPT031_an_adapter_beside_the_pretrained_parts_or_on_one() => Verify.Analyzer("""
        public sealed partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
            [Adapter] private readonly Linear {|#0:adapter|} = nn.Linear(4, 4);
            [Pretrained, Adapter] private readonly Linear {|#1:both|} = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => x;
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.AdapterOutsidePretrained, 0)
            .WithArguments("adapter", "'Model' has [Pretrained] fields of its own and this field sits beside them"),
        Verify.Diagnostic(DiagnosticDescriptors.AdapterOutsidePretrained, 1)
            .WithArguments("both", "it is [Pretrained] itself: the frozen part, not a module inside one"));

    /// <summary>Blocks no field's type names, which a part's code creates (in another file than the block and the model).</summary>
    [Fact]
    public Task A_block_created_by_the_code_of_a_part_or_of_its_base_type_is_held() => Verify.Analyzer(
    [
        ("Blocks.cs", """
            internal sealed class Block : nn.Module<Tensor, Tensor>
            {
                [Adapter] private readonly Linear adapter = nn.Linear(4, 4);
                [field: Adapter] public Linear Extra { get; } = nn.Linear(4, 4);
                public Block() : base("b") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => adapter.forward(Extra.forward(x));
            }

            internal sealed class Inner : nn.Module<Tensor, Tensor>
            {
                [Adapter] private readonly Linear adapter = nn.Linear(4, 4);
                public Inner() : base("i") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => adapter.forward(x);
            }

            internal static class Blocks
            {
                public static Block Create() => new();
            }
            """),
        ("Parts.cs", """
            // A block a factory of another type returns, called from a local function of the constructor.
            internal sealed class Trunk : nn.Module
            {
                public Trunk() : base("t")
                {
                    Block Make() => Blocks.Create();
                    register_module("block", Make());
                }
            }

            // A module the base type's constructor creates.
            internal sealed class Wrapper : WrapperBase
            {
            }

            internal abstract class WrapperBase : nn.Module
            {
                protected WrapperBase() : base("w") { register_module("inner", new Inner()); }
            }
            """),
        ("Model.cs", """
            internal sealed partial class Model : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Trunk trunk = new();
                [Pretrained] private readonly Wrapper wrapper = new();
                public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => x;
            }
            """),
    ]);

    [Fact]
    public Task CKPT031_an_adapter_property_held_by_nothing_or_beside_the_parts() => Verify.Analyzer("""
        internal sealed class Block : nn.Module<Tensor, Tensor>
        {
            [field: Adapter] public Linear {|#0:Extra|} { get; } = nn.Linear(4, 4);
            public Block() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => Extra.forward(x);
        }

        internal sealed partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
            [field: Adapter] public Linear {|#1:Side|} { get; } = nn.Linear(4, 4);
            private readonly Block head = new();
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.AdapterOutsidePretrained, 0)
            .WithArguments("Extra", "no [Pretrained] field of this project holds a 'Block' and no other project can see the type"),
        Verify.Diagnostic(DiagnosticDescriptors.AdapterOutsidePretrained, 1)
            .WithArguments("Side", "'Model' has [Pretrained] fields of its own and this field sits beside them"));

    [Fact]
    public Task CKPT030_not_a_module_field_of_a_module() => Verify.Analyzer("""
        public sealed class Block : nn.Module<Tensor, Tensor>
        {
            [Adapter] private readonly Tensor {|#0:scale|} = ones(4);
            [Adapter] private static readonly Linear {|#1:shared|} = nn.Linear(4, 4);
            [Adapter] private const int {|#2:rank|} = 4;
            [field: Adapter] public object {|#3:Boxed|} { get; } = new();
            public Block() : base("b") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => x * scale;
        }

        public sealed class Holder
        {
            [Adapter] private readonly Linear {|#4:adapter|} = nn.Linear(4, 4);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.InvalidAdapter, 0).WithArguments("scale", "has type 'Tensor', which is not a torch.nn.Module"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidAdapter, 1).WithArguments("shared", "is static"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidAdapter, 2).WithArguments("rank", "is const"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidAdapter, 3).WithArguments("Boxed", "has type 'object', which is not a torch.nn.Module"),
        Verify.Diagnostic(DiagnosticDescriptors.InvalidAdapter, 4).WithArguments("adapter", "is declared in 'Holder', which is not a torch.nn.Module"));

    /// <summary>A pretrained encoder whose adapter is reached through properties, as CKPT011 and CKPT012 follow them.</summary>
    private const string AdaptedModel = """
        public sealed class Encoder : nn.Module<Tensor, Tensor>
        {
            public Encoder() : base("e") { RegisterComponents(); }
            public Linear Input { get; } = nn.Linear(4, 4);
            [field: Adapter] public Linear Adapter { get; } = nn.Linear(4, 4);
            public override Tensor forward(Tensor x) => Adapter.forward(Input.forward(x));
        }

        public sealed partial class Model : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] public Encoder Vae { get; } = new();
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => Vae.forward(x);
        }

        """;

    [Fact]
    public Task CKPT011_stays_quiet_about_an_adapters_parameters_and_not_about_the_rest_of_the_part() => Verify<RequiresGradAnalyzer>.Analyzer(AdaptedModel + """
        public static class Training
        {
            public static void Unfreeze(Model model)
            {
                model.Vae.Adapter.weight.requires_grad = true;
                {|#0:model.Vae.Input.weight.requires_grad = true|};
            }
        }
        """,
        Verify<RequiresGradAnalyzer>.Diagnostic(DiagnosticDescriptors.RequiresGradEnabled).WithArguments("Vae"));

    [Fact]
    public Task CKPT012_stays_quiet_about_an_adapters_parameters_and_not_about_the_whole_part() => Verify<PretrainedOptimizerAnalyzer>.Analyzer(AdaptedModel + """
        public static class Training
        {
            public static optim.Optimizer Adapters(Model model) => optim.Adam(model.Vae.Adapter.parameters());

            public static optim.Optimizer Everything(Model model) => optim.Adam({|#0:model.Vae.parameters()|});
        }
        """,
        Verify<PretrainedOptimizerAnalyzer>.Diagnostic(DiagnosticDescriptors.PretrainedParametersOptimized).WithArguments("Vae", "model.TrainableParameters()"));
}
