using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace CheckpointGen.Generator.Tests;

/// <summary>
/// <c>FreezePretrained()</c>, <c>TrainableParameters()</c> and <c>LoadPretrained()</c> are written into a model type only
/// where code calls them without <c>this.</c> (a simple name, which only a member of the type can satisfy); everywhere
/// else <c>model.FreezePretrained()</c> is the runtime's extension method of that name. Either way the code compiles.
/// </summary>
public sealed class CalledMembersTests
{
    private const string Usings = """
        using System;
        using System.Linq;
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        """;

    private const string Freeze = "public void FreezePretrained()";
    private const string Trainable = "TrainableParameters() =>";
    private const string Load = "public void LoadPretrained()";

    /// <summary>A model whose deriving types complete it: the generated members go into it.</summary>
    private const string AbstractModel = """
        public abstract partial class Base : nn.Module<Tensor, Tensor>
        {
            [Pretrained("w.safetensors")] protected readonly Linear encoder = nn.Linear(2, 2);
            protected Base() : base("m") { }
        }
        """;

    /// <summary>Runs the generator over the files; the output must compile without a warning. Returns the model's generated file.</summary>
    private static string Generated(params string[] sources)
    {
        var (result, output) = GeneratorHarness.Run(sources.Select(s => Usings + s).ToArray());

        Assert.All(result.Results, r => Assert.Null(r.Exception));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        return result.GeneratedTrees.Single().GetText().ToString();
    }

    private static string Model(string body) => $$"""
        public sealed partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained("w.safetensors")] private readonly Linear encoder = nn.Linear(2, 2);
            private readonly Linear head = nn.Linear(2, 2);
            public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
        {{body}}
        }
        """;

    [Fact]
    public void Called_unqualified_in_the_file_of_the_field_each_member_is_generated()
    {
        var generated = Generated(Model("""
                public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
                public optim.Optimizer Optimizer() => optim.Adam(TrainableParameters(), lr: 0.001);
                public void Prepare() => LoadPretrained();
            """));

        Assert.Contains(Freeze, generated);
        Assert.Contains(Trainable, generated);
        Assert.Contains(Load, generated);
    }

    [Fact]
    public void Called_by_no_simple_name_none_is_generated_and_the_extension_methods_serve()
    {
        var generated = Generated(
            Model("""
                public Model() : base("m") { RegisterComponents(); this.FreezePretrained(); }
                public optim.Optimizer Optimizer() => optim.Adam(this.TrainableParameters(), lr: 0.001);
                public void Prepare(Model other) { other.LoadPretrained(); other?.FreezePretrained(); }
            """),
            """
            public static class Training
            {
                public static optim.Optimizer Optimizer(Model model) { model.LoadPretrained(); model.FreezePretrained(); return optim.Adam(model.TrainableParameters(), lr: 0.001); }
                public static void Generic<T>(T model) where T : nn.Module, ICheckpointable { model.FreezePretrained(); model.LoadPretrained(); _ = model.TrainableParameters(); }
                public static void Any(ICheckpointable model) { model.FreezePretrained(); model.LoadPretrained(); _ = model.TrainableParameters(); }
            }
            """);

        Assert.DoesNotContain(Freeze, generated);
        Assert.DoesNotContain(Trainable, generated);
        Assert.DoesNotContain(Load, generated);
        Assert.Contains("override void train", generated);
    }

    [Fact]
    public void A_call_in_another_partial_declaration_of_the_type_generates_the_member()
    {
        var generated = Generated(
            Model("""
                public Model() : base("m") { RegisterComponents(); this.FreezePretrained(); }
            """),
            """
            public sealed partial class Model
            {
                public optim.Optimizer Optimizer() => optim.Adam(TrainableParameters(), lr: 0.001);
            }
            """);

        Assert.Contains(Trainable, generated);
        Assert.DoesNotContain(Freeze, generated);
        Assert.DoesNotContain(Load, generated);
    }

    [Fact]
    public void Calls_in_a_lambda_a_local_function_and_a_method_group_count()
    {
        var generated = Generated(Model("""
                public Model() : base("m") { RegisterComponents(); this.FreezePretrained(); }
                public Func<optim.Optimizer> Optimizer => () => optim.Adam(TrainableParameters(), lr: 0.001);
                public void Prepare()
                {
                    Run();
                    void Run() => LoadPretrained();
                }
                public Action Freezer => FreezePretrained;
            """));

        Assert.Contains(Freeze, generated);
        Assert.Contains(Trainable, generated);
        Assert.Contains(Load, generated);
    }

    [Fact]
    public void A_derived_type_calling_a_member_unqualified_gets_it_on_the_model_it_derives_from()
    {
        var generated = Generated(
            AbstractModel,
            """
            public sealed class Derived : Base
            {
                private readonly Linear head = nn.Linear(2, 2);
                public Derived() { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
            }
            """);

        Assert.Contains(Freeze, generated);
        Assert.DoesNotContain(Trainable, generated);
    }

    [Fact]
    public void A_derived_type_calling_this_FreezePretrained_gets_the_extension_method()
    {
        var generated = Generated(
            AbstractModel,
            """
            public sealed class Derived : Base
            {
                private readonly Linear head = nn.Linear(2, 2);
                public Derived() { RegisterComponents(); this.FreezePretrained(); }
                public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
                public optim.Optimizer Optimizer() => optim.Adam(this.TrainableParameters(), lr: 0.001);
            }
            """);

        Assert.DoesNotContain(Freeze, generated);
        Assert.DoesNotContain(Trainable, generated);
    }

    [Fact]
    public void The_code_of_a_nested_type_is_its_own_not_the_models()
    {
        var generated = Generated(Model("""
                public Model() : base("m") { RegisterComponents(); this.FreezePretrained(); }
                private sealed class Helper
                {
                    public static void Freeze(Model model) => model.FreezePretrained();
                    public void Use()
                    {
                        FreezePretrained();
                        static void FreezePretrained() { }
                    }
                }
            """));

        Assert.DoesNotContain(Freeze, generated);
    }

    [Fact]
    public void A_member_of_that_name_the_user_wrote_is_what_the_name_means()
    {
        var generated = Generated(Model("""
                public Model() : base("m") { RegisterComponents(); FreezePretrained(); LoadPretrained("w.safetensors"); }
                public void FreezePretrained() => ((ICheckpointable)this).CheckpointPolicy.FreezePretrained();
                public void LoadPretrained(string path) => this.LoadPretrained(new PretrainedLoadOptions { BaseDirectory = System.IO.Path.GetDirectoryName(path) });
            """));

        Assert.DoesNotContain(Freeze + " =>", generated);
        // A method of that name with parameters is an overload, not a clash: the parameterless one is still written.
        Assert.Contains(Load, generated);
    }
}
