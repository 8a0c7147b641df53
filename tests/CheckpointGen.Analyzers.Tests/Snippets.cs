namespace CheckpointGen.Analyzers.Tests;

/// <summary>
/// Realistic code around models with pretrained parts, as users write it: misuse and correct code. A line that must get a
/// diagnostic ends in <c>// expect: CKPTnnn</c> (the diagnostic starts on that line); every other line must get none.
/// </summary>
internal static class Snippets
{
    /// <summary>Compiled with every snippet: a pretrained encoder with submodules, a model, an enclosing model.</summary>
    public const string Prelude = """
        using System;
        using System.Collections.Generic;
        using System.IO;
        using System.Linq;
        using CheckpointGen;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        public sealed class Encoder : nn.Module<Tensor, Tensor>
        {
            public readonly Linear stem = nn.Linear(8, 8);
            public readonly Linear proj = nn.Linear(8, 4);
            public Encoder() : base("encoder") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => proj.forward(stem.forward(x));
        }

        public partial class Captioner : nn.Module<Tensor, Tensor>
        {
            [Pretrained("weights/vae.safetensors")]
            public readonly Encoder vae = new();
            public readonly Linear head = nn.Linear(4, 2);

            public Captioner() : base(nameof(Captioner))
            {
                RegisterComponents();
                FreezePretrained();
            }

            public Encoder Encoder => vae;
            public Encoder GetEncoder() => vae;
            public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
        }

        /// <summary>No [Pretrained] field of its own: its child has them.</summary>
        public sealed class Pipeline : nn.Module<Tensor, Tensor>
        {
            public readonly Captioner captioner = new();
            public readonly Linear post = nn.Linear(2, 2);
            public Pipeline() : base(nameof(Pipeline)) { RegisterComponents(); }
            public override Tensor forward(Tensor x) => post.forward(captioner.forward(x));
        }

        """;

    /// <summary>The snippets: a name, whether it is one of the gaps found by trying the analyzers on code as users write it (each must be right), and the code.</summary>
    public static readonly (string Name, bool KnownGap, string Code)[] All =
    [
        // ---- CKPT012: pretrained parameters handed to an optimizer ----
        ("CKPT012 model.parameters() of a model with pretrained parts", true, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(model.parameters(), lr: 1e-3); // expect: CKPT012
            }
            """),
        ("CKPT012 a submodule of the pretrained field", true, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(model.vae.stem.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 pretrained parameters on the right of Concat", true, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                    => optim.Adam(model.head.parameters().Concat(model.vae.parameters()), lr: 1e-4); // expect: CKPT012
            }
            """),
        ("CKPT012 a local holding the pretrained field", true, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                {
                    var encoder = model.vae;
                    return optim.Adam(encoder.parameters()); // expect: CKPT012
                }
            }
            """),
        ("CKPT012 a property that returns the field", true, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(model.Encoder.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 a method that returns the field", false, """
            public static class Training
            {
                public static SGD Optimizer(Captioner model) => optim.SGD(model.GetEncoder().parameters(), 0.01); // expect: CKPT012
            }
            """),
        ("CKPT012 inside the model", false, """
            public sealed partial class Tagger : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private readonly Linear head = nn.Linear(4, 2);
                public Tagger() : base("t") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => head.forward(backbone.forward(x));
                public Adam Optimizer() => optim.Adam(backbone.parameters(), lr: 1e-3); // expect: CKPT012
            }
            """),
        ("CKPT012 new Adam(...) with named parameters", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => new Adam(model.vae.named_parameters().Select(np => np.parameter), lr: 0.01); // expect: CKPT012
            }
            """),
        ("CKPT012 parameter groups", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(new[] // expect: CKPT012
                {
                    new Adam.ParamGroup(model.vae.parameters(), 1e-5),
                    new Adam.ParamGroup(model.head.parameters(), 1e-3),
                });
            }
            """),
        ("CKPT012 add_param_group", false, """
            public static class Training
            {
                public static void Widen(Captioner model, Adam optimizer)
                {
                    var group = new Adam.ParamGroup(model.vae.parameters(), 1e-5);
                    optimizer.add_param_group(group); // expect: CKPT012
                }
            }
            """),
        ("CKPT012 a list filled with AddRange", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                {
                    var parameters = new List<Parameter>(model.head.parameters());
                    parameters.AddRange(model.vae.stem.parameters());
                    return optim.Adam(parameters); // expect: CKPT012
                }
            }
            """),
        ("CKPT012 a collection expression", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam([.. model.head.parameters(), .. model.vae.parameters()]); // expect: CKPT012
            }
            """),
        ("CKPT012 a static member of the model", true, """
            public sealed partial class Tagger : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private readonly Linear head = nn.Linear(4, 2);
                public Tagger() : base("t") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => head.forward(backbone.forward(x));
                public static Adam Make(Tagger m) => optim.Adam(m.backbone.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 another instance of the model", true, """
            public sealed partial class Tagger : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private readonly Linear head = nn.Linear(4, 2);
                public Tagger() : base("t") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => head.forward(backbone.forward(x));
                public Adam Distil(Tagger other) => optim.Adam(other.backbone.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 a helper that makes the optimizer", false, """
            public static class Training
            {
                private static Adam MakeOptimizer(nn.Module module) => optim.Adam(module.parameters(), lr: 1e-3);
                public static Adam Optimizer(Captioner model) => MakeOptimizer(model.vae); // expect: CKPT012
            }
            """),
        ("CKPT012 one branch of a conditional", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model, bool everything)
                    => optim.Adam(everything ? model.parameters() : model.TrainableParameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 a local assigned on one branch", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model, bool everything)
                {
                    var parameters = model.TrainableParameters();
                    if (everything)
                    {
                        parameters = model.parameters();
                    }
                    return optim.Adam(parameters); // expect: CKPT012
                }
            }
            """),
        ("CKPT012 parameters() of an enclosing model", false, """
            public static class Training
            {
                public static Adam Optimizer(Pipeline pipeline) => optim.Adam(pipeline.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 a generic method constrained to the model", false, """
            public static class Training
            {
                public static Adam Optimizer<TModel>(TModel model) where TModel : Captioner => optim.Adam(model.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT012 a lambda selecting parameters of submodules", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                    => optim.Adam(model.vae.children().SelectMany(m => m.parameters())); // expect: CKPT012
            }
            """),

        // ---- CKPT011: requires_grad turned back on ----
        ("CKPT011 a helper unfreezing the module it is given", true, """
            public static class Training
            {
                private static void Unfreeze(nn.Module module)
                {
                    foreach (var p in module.parameters())
                    {
                        p.requires_grad = true;
                    }
                }

                public static void FineTune(Captioner model) => Unfreeze(model.vae); // expect: CKPT011
            }
            """),
        ("CKPT011 a parameter of a submodule", true, """
            public static class Training
            {
                public static void FineTune(Captioner model) => model.vae.stem.weight!.requires_grad = true; // expect: CKPT011
            }
            """),
        ("CKPT011 a loop over a property that returns the field", true, """
            public static class Training
            {
                public static void FineTune(Captioner model)
                {
                    foreach (var p in model.Encoder.parameters())
                    {
                        p.requires_grad = true; // expect: CKPT011
                    }
                }
            }
            """),
        ("CKPT011 a loop inside the model", false, """
            public sealed partial class Tagger : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Tagger() : base("t") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => backbone.forward(x);
                public void Unfreeze()
                {
                    foreach (var p in backbone.parameters()) { p.requires_grad_(); } // expect: CKPT011
                }
            }
            """),
        ("CKPT011 ForEach with a lambda", false, """
            public static class Training
            {
                public static void FineTune(Captioner model) => model.vae.parameters().ToList().ForEach(p => p.requires_grad_(true)); // expect: CKPT011
            }
            """),
        ("CKPT011 every parameter of the model", false, """
            public static class Training
            {
                public static void TrainEverything(Captioner model)
                {
                    foreach (var (name, p) in model.named_parameters())
                    {
                        p.requires_grad = true; // expect: CKPT011
                    }
                }
            }
            """),
        ("CKPT011 a local copy of the field", false, """
            public static class Training
            {
                public static void FineTune(Captioner model)
                {
                    var encoder = model.vae;
                    foreach (var p in encoder.parameters())
                    {
                        p.with_requires_grad(true); // expect: CKPT011
                    }
                }
            }
            """),
        ("CKPT011 children of the pretrained field", false, """
            public static class Training
            {
                public static void FineTuneLast(Captioner model)
                {
                    var last = model.vae.children().Last();
                    foreach (var p in last.parameters())
                    {
                        p.requires_grad = true; // expect: CKPT011
                    }
                }
            }
            """),
        ("CKPT011 a helper taking parameters, called with the pretrained ones", false, """
            public static class Training
            {
                private static void Enable(IEnumerable<Parameter> parameters)
                {
                    foreach (var p in parameters) p.requires_grad = true;
                }

                public static void FineTune(Captioner model) => Enable(model.Encoder.parameters()); // expect: CKPT011
            }
            """),
        ("CKPT011 a helper two calls deep", false, """
            public static class Training
            {
                private static void Enable(Parameter p) => p.requires_grad = true;
                private static void EnableAll(nn.Module module)
                {
                    foreach (var p in module.parameters()) Enable(p);
                }

                public static void FineTune(Captioner model) => EnableAll(model.vae.stem); // expect: CKPT011
            }
            """),

        // ---- CKPT020 / CKPT021: TorchSharp's load and save on a model with pretrained parts ----
        ("CKPT021 a base-typed variable", true, """
            public static class Training
            {
                public static void Save(Captioner model, string path)
                {
                    nn.Module m = model;
                    m.save(path); // expect: CKPT021
                }
            }
            """),
        ("CKPT021 an enclosing model", true, """
            public static class Training
            {
                public static void Save(Pipeline pipeline, string path) => pipeline.save(path); // expect: CKPT021
            }
            """),
        ("CKPT021 a generic method constrained to the model", true, """
            public static class Training
            {
                public static void Save<TModel>(TModel model, string path) where TModel : Captioner => model.save(path); // expect: CKPT021
            }
            """),
        ("CKPT021 the model itself", false, """
            public static class Training
            {
                public static void Save(Captioner model, int step) => model.save($"ckpt/step-{step}.dat"); // expect: CKPT021
            }
            """),
        ("CKPT021 inside the model", false, """
            public sealed partial class Tagger : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Tagger() : base("t") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => backbone.forward(x);
                public void Save(string path) => save(path); // expect: CKPT021
            }
            """),
        ("CKPT021 a skip list that leaves the pretrained keys in", false, """
            public static class Training
            {
                public static void Save(Captioner model, string path) => model.save(path, skip: new[] { "head.bias" }); // expect: CKPT021
            }
            """),
        ("CKPT021 a helper saving any module, given the model", false, """
            public static class Training
            {
                private static void SaveModule(nn.Module module, string path) => module.save(path);
                public static void Save(Captioner model, string path) => SaveModule(model, path); // expect: CKPT021
            }
            """),
        ("CKPT021 a cast through object", false, """
            public static class Training
            {
                public static void Save(Captioner model, string path)
                {
                    object boxed = model;
                    ((nn.Module)boxed).save(path); // expect: CKPT021
                }
            }
            """),
        ("CKPT021 a list of models", false, """
            public static class Training
            {
                public static void SaveAll(Captioner first, Captioner second, string folder)
                {
                    var models = new List<nn.Module> { first, second };
                    foreach (var m in models)
                    {
                        m.save(Path.Combine(folder, m.GetName())); // expect: CKPT021
                    }
                }
            }
            """),
        ("CKPT020 strict load", false, """
            public static class Training
            {
                public static void Resume(Captioner model, string path) => model.load(path); // expect: CKPT020
            }
            """),
        ("CKPT020 strict load_state_dict", false, """
            public static class Training
            {
                public static void Copy(Captioner model, Captioner from) => model.load_state_dict(from.TrainableStateDict()); // expect: CKPT020
            }
            """),
        ("CKPT020 a base-typed variable on one branch", false, """
            public static class Training
            {
                public static void Resume(Captioner model, bool full, string path)
                {
                    nn.Module target = full ? model : nn.Linear(2, 2);
                    target.load(path, strict: true); // expect: CKPT020
                }
            }
            """),
        ("CKPT020 an enclosing model", false, """
            public static class Training
            {
                public static void Resume(Pipeline pipeline, string path) => pipeline.load(path); // expect: CKPT020
            }
            """),
        ("CKPT020 a generic helper, given the model", false, """
            public static class Training
            {
                private static void Restore<TModule>(TModule module, string path) where TModule : nn.Module => module.load(path);
                public static void Resume(Captioner model, string path) => Restore(model, path); // expect: CKPT020
            }
            """),

        // ---- CKPT010: pretrained modules never frozen ----
        ("CKPT010 a freeze only in a lambda that never runs", true, """
            public sealed partial class Lazy : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private readonly Action freeze;
                public Lazy() : base("l") // expect: CKPT010
                {
                    RegisterComponents();
                    freeze = () => FreezePretrained();
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("CKPT010 no freeze at all", false, """
            public sealed partial class Forgetful : nn.Module<Tensor, Tensor>
            {
                [Pretrained("w.safetensors")] private readonly Linear backbone = nn.Linear(4, 4);
                public Forgetful() : base("f") // expect: CKPT010
                {
                    RegisterComponents();
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("CKPT010 a freeze of another instance", false, """
            public sealed partial class Twin : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Twin(Twin? teacher) : base("t") // expect: CKPT010
                {
                    RegisterComponents();
                    teacher?.FreezePretrained();
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("CKPT010 a factory that forgets one of its creations", false, """
            public sealed partial class Built : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private Built() : base("b") { RegisterComponents(); } // expect: CKPT010
                public override Tensor forward(Tensor x) => backbone.forward(x);
                public static Built Create()
                {
                    var model = new Built();
                    model.FreezePretrained();
                    return model;
                }
                public static Built CreateUnfrozen() => new Built();
            }
            """),

        // ---- Correct code: nothing to report ----
        ("correct: TrainableParameters() to the optimizer", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(model.TrainableParameters(), lr: 1e-3);
            }
            """),
        ("correct: a local reassigned to TrainableParameters() before use", true, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                {
                    var parameters = model.vae.parameters();
                    Console.WriteLine($"{parameters.Count()} frozen tensors");
                    parameters = model.TrainableParameters();
                    return optim.Adam(parameters);
                }
            }
            """),
        ("correct: clones of the frozen parameters", true, """
            public static class Training
            {
                public static List<Tensor> Probes(Captioner model)
                {
                    var probes = new List<Tensor>();
                    foreach (var p in model.vae.parameters())
                    {
                        var copy = p.detach().clone();
                        copy.requires_grad = true;
                        probes.Add(copy);
                    }
                    return probes;
                }
            }
            """),
        ("correct: save with the pretrained keys skipped", true, """
            public static class Training
            {
                public static void Save(Captioner model, string path)
                    => model.save(path, skip: model.state_dict().Keys.Where(k => model.PretrainedPrefixes.Any(k.StartsWith)).ToList());
            }
            """),
        ("correct: save with the pretrained keys skipped by name", false, """
            public static class Training
            {
                public static void Save(Captioner model, string path)
                    => model.save(path, skip: ["vae.stem.weight", "vae.stem.bias", "vae.proj.weight", "vae.proj.bias"]);
            }
            """),
        ("correct: a helper method called by the constructor freezes", true, """
            public sealed partial class Helped : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Helped() : base("h")
                {
                    RegisterComponents();
                    Prepare();
                }
                private void Prepare()
                {
                    FreezePretrained();
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("correct: a derived type's constructor freezes the abstract base", true, """
            public abstract partial class Backbone : nn.Module<Tensor, Tensor>
            {
                [Pretrained] protected readonly Linear encoder = nn.Linear(4, 4);
                protected Backbone(string name) : base(name) { }
            }

            public sealed class Classifier : Backbone
            {
                private readonly Linear head = nn.Linear(4, 2);
                public Classifier() : base("c")
                {
                    RegisterComponents();
                    FreezePretrained();
                }
                public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
            }
            """),
        ("correct: a factory freezes after a private constructor", true, """
            public sealed partial class Built : nn.Module<Tensor, Tensor>
            {
                [Pretrained("w.safetensors")] private readonly Linear backbone = nn.Linear(4, 4);
                private Built() : base("b") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => backbone.forward(x);
                public static Built Create()
                {
                    var model = new Built();
                    model.LoadPretrained();
                    return model;
                }
            }
            """),
        ("correct: a local function called by the constructor freezes", false, """
            public sealed partial class Local : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Local() : base("l")
                {
                    RegisterComponents();
                    Freeze();
                    void Freeze() => FreezePretrained();
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("correct: the constructor hands itself to a freezing helper", false, """
            public static class Setup
            {
                public static void Freeze(ICheckpointable model) => model.FreezePretrained();
            }

            public sealed partial class Handed : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Handed() : base("h")
                {
                    RegisterComponents();
                    Setup.Freeze(this);
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("correct: load or freeze on either branch, and a chained constructor", false, """
            public sealed partial class Either : nn.Module<Tensor, Tensor>
            {
                [Pretrained("w.safetensors")] private readonly Linear backbone = nn.Linear(4, 4);
                public Either(bool load) : base("e")
                {
                    RegisterComponents();
                    if (load) LoadPretrained(); else FreezePretrained();
                }
                public Either() : this(false) { }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("correct: the trainable head's parameters", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(model.head.parameters());
            }
            """),
        ("correct: TorchSharp's save and load of plain modules", false, """
            public static class Training
            {
                public static void RoundTrip(string path)
                {
                    using var plain = nn.Linear(4, 4);
                    plain.save(path);
                    plain.load(path);
                    nn.Module m = nn.Linear(2, 2);
                    m.save(path);
                }
            }
            """),
        ("correct: non-strict load", false, """
            public static class Training
            {
                public static void Resume(Captioner model, string path, bool strict)
                {
                    model.load(path, strict: false);
                    model.load(path, strict);
                }
            }
            """),
        ("correct: CheckpointGen's save and load", false, """
            public static class Training
            {
                public static void RoundTrip(Captioner model, string path)
                {
                    model.LoadPretrained();
                    model.SaveCheckpoint(path);
                    model.LoadCheckpoint(path);
                }
            }
            """),
        ("correct: freezing again, counting, gradients off", false, """
            public static class Training
            {
                public static long Frozen(Captioner model)
                {
                    foreach (var p in model.vae.parameters())
                    {
                        p.requires_grad = false;
                    }
                    model.vae.parameters().ToList().ForEach(p => p.requires_grad_(false));
                    return model.vae.parameters().Sum(p => p.numel());
                }
            }
            """),
        ("correct: a helper unfreezing, given the head", false, """
            public static class Training
            {
                private static void Unfreeze(nn.Module module)
                {
                    foreach (var p in module.parameters()) p.requires_grad = true;
                }

                public static void Warm(Captioner model) => Unfreeze(model.head);
            }
            """),
        ("correct: a base-typed variable reassigned to a plain module", false, """
            public static class Training
            {
                public static void Save(Captioner model, string path)
                {
                    nn.Module m = model;
                    Console.WriteLine(m.GetName());
                    m = nn.Linear(2, 2);
                    m.save(path);
                }
            }
            """),
        ("correct: named parameters filtered by PretrainedPrefixes", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                    => optim.Adam(model.named_parameters()
                        .Where(np => !model.PretrainedPrefixes.Any(prefix => np.name.StartsWith(prefix)))
                        .Select(np => np.parameter));
            }
            """),
        ("correct: model parameters except the pretrained ones", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model) => optim.Adam(model.parameters().Except(model.vae.parameters()));
            }
            """),
        ("correct: a gradient switch decided at run time", false, """
            public static class Training
            {
                public static void Switch(Captioner model, bool enabled)
                {
                    foreach (var p in model.vae.parameters()) p.requires_grad = enabled;
                }
            }
            """),
        ("correct: the head's gradients on", false, """
            public static class Training
            {
                public static void Warm(Captioner model)
                {
                    model.head.weight!.requires_grad = true;
                    foreach (var p in model.TrainableParameters()) p.requires_grad_();
                }
            }
            """),
        ("correct: TrainableParameters() and an extra tensor", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model, Linear extra)
                {
                    var parameters = model.TrainableParameters().ToList();
                    parameters.AddRange(extra.parameters());
                    return optim.Adam(parameters);
                }
            }
            """),
        ("correct: exporting the pretrained encoder alone", false, """
            public static class Export
            {
                public static void Encoder(Captioner model, string path) => model.vae.save(path);
            }
            """),
        ("correct: a generic save helper given a plain module", false, """
            public static class Training
            {
                private static void SaveModule<TModule>(TModule module, string path) where TModule : nn.Module => module.save(path);
                public static void Save(string path) => SaveModule(nn.Linear(2, 2), path);
            }
            """),
        ("correct: a method of the model that happens to be called save", false, """
            public sealed partial class Named : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                public Named() : base("n") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => backbone.forward(x);
                public void save(string folder, int step) => this.SaveCheckpoint(Path.Combine(folder, $"{step}.safetensors"));
            }

            public static class Training
            {
                public static void Save(Named model, string folder) => model.save(folder, 3);
            }
            """),
        ("correct: the training loop of the README", false, """
            public static class Training
            {
                public static void Run(string folder)
                {
                    using var model = new Captioner();
                    model.LoadPretrained();
                    using var optimizer = optim.Adam(model.TrainableParameters(), lr: 1e-3);
                    for (var step = 1; step <= 300; step++)
                    {
                        optimizer.zero_grad();
                        using var loss = model.forward(torch.randn(8, 8)).sum();
                        loss.backward();
                        optimizer.step();
                        if (step % 100 == 0)
                        {
                            model.SaveCheckpoint(Path.Combine(folder, $"step-{step}.safetensors"), new TrainingState { Optimizer = optimizer, Step = step });
                        }
                    }
                }
            }
            """),
        ("correct: an optimizer over a submodule of the head", false, """
            public sealed partial class Deep : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Encoder backbone = new();
                private readonly Encoder adapter = new();
                public Deep() : base("d") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => adapter.forward(backbone.forward(x));
                public Adam Optimizer() => optim.Adam(adapter.stem.parameters().Concat(adapter.proj.parameters()));
            }
            """),
        ("correct: a [field: Pretrained] property and its model's trainable parameters", false, """
            public sealed partial class Props : nn.Module<Tensor, Tensor>
            {
                [field: Pretrained] public Linear Backbone { get; } = nn.Linear(4, 4);
                public Linear Head { get; } = nn.Linear(4, 2);
                public Props() : base("p") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => Head.forward(Backbone.forward(x));
                public Adam Optimizer() => optim.Adam(Head.parameters().Concat(TrainableParameters()));
            }
            """),
        ("correct: a conditional strict load decided at run time", false, """
            public static class Training
            {
                public static void Resume(Captioner model, string path, bool fresh) => model.load(path, strict: !fresh);
            }
            """),
        ("correct: a local holding the head, then the vae only counted", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                {
                    var trainable = model.head;
                    var frozen = model.vae;
                    Console.WriteLine(frozen.parameters().Count());
                    return optim.Adam(trainable.parameters());
                }
            }
            """),

        ("CKPT012 a readonly field assigned the pretrained field", false, """
            public sealed partial class Alias : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private readonly Linear same;
                public Alias() : base("a") { same = backbone; RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => same.forward(x);
                public Adam Optimizer() => optim.Adam(same.parameters()); // expect: CKPT012
            }
            """),
        ("CKPT011 modules() of the whole model", false, """
            public static class Training
            {
                public static void TrainEverything(Captioner model)
                {
                    foreach (var module in model.modules())
                    {
                        foreach (var p in module.parameters()) p.requires_grad = true; // expect: CKPT011
                    }
                }
            }
            """),

        ("correct: gradient clipping and zeroing over every parameter", false, """
            public static class Training
            {
                public static void Step(Captioner model, Adam optimizer)
                {
                    nn.utils.clip_grad_norm_(model.parameters(), 1.0);
                    optimizer.step();
                    foreach (var p in model.parameters()) p.grad?.zero_();
                }
            }
            """),
        ("correct: the encoder loaded by hand from its file", false, """
            public static class Training
            {
                public static void LoadEncoder(Captioner model, string path)
                {
                    model.vae.load(path);
                    model.FreezePretrained();
                }
            }
            """),
        ("correct: weights copied into a fresh model", false, """
            public static class Training
            {
                public static Captioner Copy(Captioner model)
                {
                    var fresh = new Captioner();
                    fresh.load_state_dict(model.state_dict());
                    return fresh;
                }
            }
            """),
        ("correct: a student copy of the encoder trains", false, """
            public static class Distillation
            {
                public static Adam Student(Captioner teacher)
                {
                    var student = new Encoder();
                    student.load_state_dict(teacher.vae.state_dict());
                    foreach (var p in student.parameters()) p.requires_grad = true;
                    return optim.Adam(student.parameters(), lr: 1e-4);
                }
            }
            """),
        ("correct: any model through ICheckpointable", false, """
            public static class Training
            {
                public static Adam Optimizer(ICheckpointable model, double lr) => optim.Adam(model.TrainableParameters(), lr);
                public static void Save(ICheckpointable model, string path) => model.SaveCheckpoint(path);
            }
            """),
        ("correct: an optimizer chosen by a switch", false, """
            public static class Training
            {
                public static optim.Optimizer Optimizer(Captioner model, string kind) => kind switch
                {
                    "sgd" => optim.SGD(model.TrainableParameters(), 0.1),
                    _ => optim.Adam(model.TrainableParameters(), lr: 1e-3),
                };
            }
            """),
        ("correct: a parameter group for the head", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                {
                    var optimizer = optim.Adam(model.TrainableParameters(), lr: 1e-3);
                    optimizer.add_param_group(new Adam.ParamGroup(model.head.parameters(), 1e-4));
                    return optimizer;
                }
            }
            """),
        ("correct: a base-typed variable holding the head", false, """
            public static class Export
            {
                public static void Head(Captioner model, string path)
                {
                    nn.Module head = model.head;
                    head.save(path);
                }
            }
            """),
        ("correct: LoadPretrained with options in the constructor", false, """
            public sealed partial class Configured : nn.Module<Tensor, Tensor>
            {
                [Pretrained("w.safetensors")] private readonly Linear backbone = nn.Linear(4, 4);
                public Configured(string folder) : base("c")
                {
                    RegisterComponents();
                    this.LoadPretrained(new PretrainedLoadOptions { BaseDirectory = folder });
                }
                public override Tensor forward(Tensor x) => backbone.forward(x);
            }
            """),
        ("correct: a model kept in a local across a try block", false, """
            public static class Training
            {
                public static void Run(string path)
                {
                    Captioner? model = null;
                    try
                    {
                        model = new Captioner();
                        model.LoadPretrained();
                    }
                    finally
                    {
                        model?.SaveCheckpoint(path);
                    }
                }
            }
            """),
        ("correct: filtering TrainableParameters() before the optimizer", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                    => optim.Adam(model.TrainableParameters().Where(p => p.requires_grad).ToList(), lr: 1e-3);
            }
            """),

        ("correct: a parameter of the model's own and its trainable parameters", false, """
            public sealed partial class Scaled : nn.Module<Tensor, Tensor>
            {
                [Pretrained] private readonly Linear backbone = nn.Linear(4, 4);
                private readonly Parameter scale = new(torch.ones(4));
                public Scaled() : base("s") { RegisterComponents(); FreezePretrained(); }
                public override Tensor forward(Tensor x) => backbone.forward(x) * scale;
                public Adam Optimizer() => optim.Adam(TrainableParameters().Append(scale).Distinct());
                public void Warm() => scale.requires_grad = true;
            }
            """),

        // ---- Known limits: not followed (listed on the diagnostics' pages) ----
        ("limit: an object that keeps the module it is given", false, """
            public sealed class Trainer(nn.Module module)
            {
                public Adam Optimizer() => optim.Adam(module.parameters()); // expect: CKPT012
            }

            public static class Training
            {
                public static Adam Optimizer(Captioner model) => new Trainer(model.vae).Optimizer();
            }
            """),
        ("limit: a delegate that returns the pretrained field", false, """
            public static class Training
            {
                public static Adam Optimizer(Captioner model)
                {
                    Func<nn.Module> pick = () => model.vae;
                    return optim.Adam(pick().parameters()); // expect: CKPT012
                }
            }
            """),
    ];
}
