using System.Threading.Tasks;
using Xunit;
using Verify = CheckpointGen.Analyzers.Tests.Verify<CheckpointGen.Analyzers.CheckpointableImplementationAnalyzer>;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT006.</summary>
public sealed class CheckpointableImplementationTests
{
    [Fact]
    public Task CKPT006_ICheckpointable_implemented_by_hand_without_a_policy_but_not_a_model_or_a_class_with_its_own() => Verify.Analyzer("""
        public sealed class {|#0:Hand|} : nn.Module<Tensor, Tensor>, ICheckpointable
        {
            public Hand() : base("m") { }
            public override Tensor forward(Tensor x) => x;
        }

        public abstract class HandBase : nn.Module<Tensor, Tensor>, ICheckpointable
        {
            protected HandBase() : base("m") { }
        }

        public sealed class {|#1:HandDerived|} : HandBase
        {
            public override Tensor forward(Tensor x) => x;
        }

        public struct {|#2:HandStruct|} : ICheckpointable
        {
        }

        public sealed class WithPolicy : nn.Module<Tensor, Tensor>, ICheckpointable
        {
            private readonly Linear vae = nn.Linear(4, 4);
            public WithPolicy() : base("m") { RegisterComponents(); }
            CheckpointPolicy ICheckpointable.CheckpointPolicy => new(this, new PretrainedField("vae", vae));
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public sealed partial class Model : nn.Module<Tensor, Tensor>, ICheckpointable
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }

        public abstract partial class Backbone : nn.Module<Tensor, Tensor>
        {
            [Pretrained] protected readonly Linear vae = nn.Linear(4, 4);
            protected Backbone() : base("m") { }
        }

        public sealed class FineTuned : Backbone
        {
            public FineTuned() { RegisterComponents(); this.FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
        }
        """,
        Verify.Diagnostic(DiagnosticDescriptors.NoPolicy, 0).WithArguments("Hand"),
        Verify.Diagnostic(DiagnosticDescriptors.NoPolicy, 1).WithArguments("HandDerived"),
        Verify.Diagnostic(DiagnosticDescriptors.NoPolicy, 2).WithArguments("HandStruct"));
}
