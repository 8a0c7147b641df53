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
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 0).WithArguments("load", "vae"),
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 1).WithArguments("load", "vae"),
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad, 2).WithArguments("load", "vae"));

    [Fact]
    public Task CKPT020_strict_load_state_dict_is_flagged_without_a_fix() => Verify<StrictLoadAnalyzer>.Analyzer(Models + """
        public static class Training
        {
            public static void Resume(Model model, Model other) => {|#0:model.load_state_dict(other.state_dict())|};
        }
        """,
        Verify<StrictLoadAnalyzer>.Diagnostic(DiagnosticDescriptors.StrictLoad).WithArguments("load_state_dict", "vae"));

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
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae"));

    [Fact]
    public Task No_fix_where_the_change_would_not_be_mechanical() => Verify<FullSaveAnalyzer, ReplaceCallCodeFix>.NoFix(Models + """
        public static class Training
        {
            public static void Save(Model model, string path)
            {
                {|#0:model.save(skip: new[] { "head.bias" }, location: path)|};
                {|#1:model.save(path)|}.eval();
                using var writer = new BinaryWriter(File.Create(path));
                {|#2:model.save(writer)|};
            }
        }
        """,
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 0).WithArguments("vae"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 1).WithArguments("vae"),
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave, 2).WithArguments("vae"));

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
        Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave).WithArguments("Encoder"));

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
    Verify<FullSaveAnalyzer>.Diagnostic(DiagnosticDescriptors.FullSave).WithArguments("vae"));
}
