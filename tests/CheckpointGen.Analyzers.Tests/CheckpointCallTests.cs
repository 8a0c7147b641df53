using System.Threading.Tasks;
using CheckpointGen.CodeFixes;
using Xunit;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>CKPT020 and CKPT021: TorchSharp's own load and save on a model with pretrained fields.</summary>
public sealed class CheckpointCallTests
{
    private const string Models = """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            private readonly Linear head = nn.Linear(4, 2);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }

        public class Plain : nn.Module<Tensor, Tensor>
        {
            private readonly Linear head = nn.Linear(4, 2);
            public Plain() : base("p") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => head.forward(x);
        }

        """;

    [Fact]
    public Task CKPT020_strict_load_is_fixed_to_LoadCheckpoint() => Verify<StrictLoadAnalyzer, ReplaceCallCodeFix>.CodeFix(Models + """
        public static class Training
        {
            public static void Resume(Model model, string path, Stream stream)
            {
                {|#0:model.load(path)|};
                {|#1:model.load(path, strict: true)|};
                {|#2:model.load(stream)|};
            }
        }
        """, Models + """
        public static class Training
        {
            public static void Resume(Model model, string path, Stream stream)
            {
                model.LoadCheckpoint(path);
                model.LoadCheckpoint(path);
                model.LoadCheckpoint(stream);
            }
        }
        """,
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 0).WithArguments("load", "vae", "LoadCheckpoint(...)"),
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 1).WithArguments("load", "vae", "LoadCheckpoint(...)"),
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 2).WithArguments("load", "vae", "LoadCheckpoint(...)"));

    [Fact]
    public Task CKPT020_strict_load_state_dict_is_flagged_without_a_fix() => Verify<StrictLoadAnalyzer>.Analyzer(Models + """
        public static class Training
        {
            public static void Resume(Model model, Model other) => {|#0:model.load_state_dict(other.TrainableStateDict())|};

            // A copy of another module's whole state has the pretrained keys: it loads strictly.
            public static void Copy(Model model, Model other) => model.load_state_dict(other.state_dict());
        }
        """,
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad).WithArguments("load_state_dict", "vae", "LoadCheckpoint(...)"));

    [Fact]
    public Task CKPT020_not_for_non_strict_loads_plain_models_or_LoadCheckpoint() => Verify<StrictLoadAnalyzer>.Analyzer(Models + """
        public static class Training
        {
            public static void Resume(Model model, Plain plain, string path, bool strict)
            {
                model.load(path, strict: false);
                model.load(path, strict);
                model.load_state_dict(plain.state_dict(), false);
                plain.load(path);
                model.LoadCheckpoint(path);
            }
        }
        """);

    [Fact]
    public Task CKPT021_save_is_fixed_to_SaveCheckpoint() => Verify<FullSaveAnalyzer, ReplaceCallCodeFix>.CodeFix(Models + """
        public static class Training
        {
            public static void Save(Model model, Plain plain, string path, Stream stream)
            {
                {|#0:model.save(path)|};
                {|#1:model.save(stream)|};
                plain.save(path);
                model.SaveCheckpoint(path);
            }
        }
        """, Models + """
        public static class Training
        {
            public static void Save(Model model, Plain plain, string path, Stream stream)
            {
                model.SaveCheckpoint(path);
                model.SaveCheckpoint(stream);
                plain.save(path);
                model.SaveCheckpoint(path);
            }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae", "SaveCheckpoint(...)"));

    [Fact]
    public Task No_fix_where_the_change_would_not_be_mechanical() => Verify<FullSaveAnalyzer, ReplaceCallCodeFix>.NoFix(Models + """
        public static class Training
        {
            public static void Save(Model model, string path)
            {
                {|#0:model.save(skip: new[] { "head.bias" }, location: path)|};
                model.save(path, new[] { "vae.weight", "vae.bias" });
                {|#1:model.save(path)|}.eval();
                using var writer = new BinaryWriter(File.Create(path));
                {|#2:model.save(writer)|};
            }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 2).WithArguments("vae", "SaveCheckpoint(...)"));

    [Fact]
    public Task A_pretrained_auto_property_is_named_by_the_property() => Verify<FullSaveAnalyzer>.Analyzer("""
        public partial class Tagger : nn.Module<Tensor, Tensor>
        {
            [field: Pretrained] private Linear Encoder { get; } = nn.Linear(4, 4);
            public Tagger() : base("t") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => Encoder.forward(x);
        }

        public static class Training
        {
            public static void Save(Tagger model, string path) => {|#0:model.save(path)|};
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave).WithArguments("Encoder", "SaveCheckpoint(...)"));

    [Fact]
    public Task A_method_of_the_model_that_happens_to_be_called_save_or_load_is_not_TorchSharp() => Verify<FullSaveAnalyzer>.Analyzer("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public void save(string path, int step) => this.SaveCheckpoint($"{path}/{step}.safetensors");
        }

        public static class Training
        {
            public static void Save(Model model, string path) => model.save(path, 3);
        }
        """);

    [Fact]
    public Task Generated_code_is_not_analyzed() => Verify<FullSaveAnalyzer>.Analyzer(
    [
        ("Models.cs", Models),
        ("Saving.g.cs", """
            public static class Generated
            {
                public static void Save(Model model, string path) => model.save(path);
            }
            """),
        ("Handwritten.cs", """
            public static class Handwritten
            {
                public static void Save(Model model, string path) => {|#0:model.save(path)|};
            }
            """),
    ],
    Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave).WithArguments("vae", "SaveCheckpoint(...)"));

    /// <summary>SaveCheckpoint and LoadCheckpoint are extension methods: inside the model a call needs 'this.'.</summary>
    [Fact]
    public Task Inside_the_model_the_fix_writes_this() => Verify<FullSaveAnalyzer, ReplaceCallCodeFix>.CodeFix("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public void Save(string path) => {|#0:save(path)|}; // keep this comment
            public void SaveExplicitly(string path) { {|#1:this.save(path)|}; }
            public void SaveBase(Stream stream) { {|#2:base.save(stream)|}; }
        }

        public partial class Derived : Model
        {
            public void SaveToo(string path) { {|#3:save(path)|}; }
        }
        """, """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public void Save(string path) => this.SaveCheckpoint(path); // keep this comment
            public void SaveExplicitly(string path) { this.SaveCheckpoint(path); }
            public void SaveBase(Stream stream) { this.SaveCheckpoint(stream); }
        }

        public partial class Derived : Model
        {
            public void SaveToo(string path) { this.SaveCheckpoint(path); }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 2).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 3).WithArguments("vae", "SaveCheckpoint(...)"));

    [Fact]
    public Task Inside_the_model_a_strict_load_becomes_this_LoadCheckpoint() => Verify<StrictLoadAnalyzer, ReplaceCallCodeFix>.CodeFix("""
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public void Resume(string path) { {|#0:load(path)|}; }
        }
        """, """
        public partial class Model : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
            public Model() : base("m") { RegisterComponents(); FreezePretrained(); }
            public override Tensor forward(Tensor x) => vae.forward(x);
            public void Resume(string path) { this.LoadCheckpoint(path); }
        }
        """,
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 0).WithArguments("load", "vae", "LoadCheckpoint(...)"));

    /// <summary>A type parameter constrained to the model has the extension methods too.</summary>
    [Fact]
    public Task A_generic_method_constrained_to_the_model_is_flagged_and_fixed() => Verify<FullSaveAnalyzer, ReplaceCallCodeFix>.CodeFix(Models + """
        public static class Training
        {
            public static void Save<TModel>(TModel model, string path) where TModel : Model { {|#0:model.save(path)|}; }
        }
        """, Models + """
        public static class Training
        {
            public static void Save<TModel>(TModel model, string path) where TModel : Model { model.SaveCheckpoint(path); }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae", "SaveCheckpoint(...)"));

    /// <summary>nn.Module has no SaveCheckpoint: the message names the model the variable holds, and nothing is rewritten.</summary>
    [Fact]
    public Task A_base_typed_variable_holding_the_model_is_flagged_without_a_fix() => Verify<FullSaveAnalyzer, ReplaceCallCodeFix>.NoFix(Models + """
        public static class Training
        {
            public static void Save(Model model, Plain plain, string path, bool both)
            {
                nn.Module m = model;
                {|#0:m.save(path)|};
                m = plain;
                m.save(path);
                nn.Module either = both ? model : plain;
                {|#1:either.save(path)|};
            }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae", "SaveCheckpoint(...) on the 'Model' it holds"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae", "SaveCheckpoint(...) on the 'Model' it holds"));

    /// <summary>A model holding a model with pretrained fields saves those too; without generated members of its own, it is saved through a CheckpointPolicy.</summary>
    [Fact]
    public Task An_enclosing_model_is_flagged_with_the_childs_part() => Verify<StrictLoadAnalyzer, ReplaceCallCodeFix>.NoFix(Models + """
        public class Pipeline : nn.Module<Tensor, Tensor>
        {
            private readonly Model inner = new();
            public Pipeline() : base("p") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => inner.forward(x);
        }

        public static class Training
        {
            public static void Resume(Pipeline pipeline, string path) { {|#0:pipeline.load(path)|}; }
        }
        """,
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 0)
            .WithArguments("load", "inner.vae", "new CheckpointPolicy(pipeline).LoadCheckpoint(...) ('Pipeline' has no generated members)"));

    /// <summary>A skip list that may leave pretrained keys out is the caller's decision; one that provably leaves them in is not.</summary>
    [Fact]
    public Task A_skip_list_is_read() => Verify<FullSaveAnalyzer>.Analyzer(Models + """
        public static class Training
        {
            public static void Save(Model model, string path, System.Collections.Generic.IList<string> keys)
            {
                model.save(path, skip: model.state_dict().Keys.Where(k => model.PretrainedPrefixes.Any(k.StartsWith)).ToList());
                model.save(path, skip: ["vae.weight", "vae.bias"]);
                model.save(path, skip: keys);
                {|#0:model.save(path, skip: ["head.weight"])|};
                {|#1:model.save(path, skip: null)|};
            }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae", "SaveCheckpoint(...)"));

    /// <summary>
    /// A helper that saves or loads whatever module it is given is flagged where the model is handed to it, unless its save
    /// is suppressed where it is written: that one is deliberate.
    /// </summary>
    [Fact]
    public Task A_helper_given_the_model_is_flagged_at_the_argument() => Verify<FullSaveAnalyzer>.Analyzer(Models + """
        public static class Checkpoints
        {
            public static void SaveModule(nn.Module module, string path) => module.save(path);
            public static void SaveBoth(nn.Module a, nn.Module b, string path) { SaveModule(a, path); SaveModule(b, path); }

        #pragma warning disable CKPT021 // the baseline, on purpose
            public static void Baseline(nn.Module module, string path) => module.save(path);
        #pragma warning restore CKPT021
        }

        public static class Training
        {
            public static void Save(Model model, Plain plain, string path)
            {
                Checkpoints.SaveModule({|#0:model|}, path);
                Checkpoints.SaveModule(plain, path);
                Checkpoints.SaveBoth(plain, {|#1:model|}, path);
                Checkpoints.Baseline(model, path);
            }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSaveInCall, 0).WithArguments("vae", "Checkpoints.SaveModule", "SaveCheckpoint(...)"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSaveInCall, 1).WithArguments("vae", "Checkpoints.SaveBoth", "SaveCheckpoint(...)"));
}
