using System;
using System.IO;
using System.Linq;
using CheckpointGen;
using CheckpointGen.Samples.Lora;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

// Relative [Pretrained] sources resolve against the current directory: keep this run's files beside the program.
Directory.SetCurrentDirectory(AppContext.BaseDirectory);
const int Steps = 20;
const int MoreSteps = 5;
const int Rank = 8;
const double Alpha = 16;

// 1. The "pretrained" backbone: made once, deterministically, and kept as a safetensors file, as a download would be.
if (!File.Exists(SequenceClassifier.BackboneWeights))
{
    manual_seed(42);
    using var pretrained = new Backbone();
    Directory.CreateDirectory(Path.GetDirectoryName(SequenceClassifier.BackboneWeights)!);
    pretrained.save_safetensors(SequenceClassifier.BackboneWeights);
    Console.WriteLine($"Wrote the pretrained backbone to {SequenceClassifier.BackboneWeights}");
}

// 2. The model loads its frozen backbone from [Pretrained(...)]; LoRA goes on the attention's query and value projections.
manual_seed(0);
using var model = NewModel();
var adapted = Lora.AdaptedPaths(model);
var frozen = model.Backbone.parameters().Where(p => !p.requires_grad).Sum(p => p.numel());
var trainable = model.TrainableParameters().Sum(p => p.numel());
Console.WriteLine($"Model: {frozen:N0} frozen backbone parameters; LoRA (r = {Rank}) on {adapted.Count} projections ({string.Join(", ", adapted.Take(2))}, ...) and the head: {trainable:N0} trainable ({100.0 * trainable / (frozen + trainable):F2} %)");

// 3. A few training steps on synthetic data: a fixed random "teacher" labels random sequences.
using var inputs = randn(64, 16, Backbone.Dim);
using var teacher = randn(Backbone.Dim, SequenceClassifier.Classes);
using var labels = inputs.mean([1]).matmul(teacher).argmax(1);
using var optimizer = optim.Adam(model.TrainableParameters(), lr: 2e-3);
var (firstLoss, lastLoss) = Train(model, optimizer, 1, Steps);
Console.WriteLine($"Trained {Steps} steps: loss {firstLoss:F3} -> {lastLoss:F3}");

// 4. Checkpoints of the trainable part only, and the adapters in PEFT's layout for Python.
Directory.CreateDirectory("checkpoints");
const string WeightsPath = "checkpoints/lora-step-20.safetensors";
const string ResumePath = "checkpoints/lora-resume-20.safetensors";
const string AdapterFolder = "checkpoints/peft-adapter";
model.SaveCheckpoint(WeightsPath);
model.SaveCheckpoint(ResumePath, new TrainingState { Optimizer = optimizer, Step = Steps });
model.SaveAdapters(AdapterFolder);
#pragma warning disable CKPT021 // The baseline, on purpose: TorchSharp's own save writes the frozen backbone too.
const string FullPath = "checkpoints/full-torchsharp.dat";
model.save(FullPath);
#pragma warning restore CKPT021

// 5. Resume: a fresh process's model (backbone from its source, adapters injected, their weights from the checkpoint)
//    and optimizer continue exactly where this run is.
using var resumed = NewModel();
using var resumedOptimizer = optim.Adam(resumed.TrainableParameters(), lr: 2e-3);
var training = new TrainingState { Optimizer = resumedOptimizer };
var report = resumed.LoadCheckpoint(ResumePath, training);
Train(model, optimizer, Steps + 1, Steps + MoreSteps);
Train(resumed, resumedOptimizer, training.Step + 1, training.Step + MoreSteps);
using var probe = randn(4, 16, Backbone.Dim);
using var continued = model.forward(probe);
using var fromResumed = resumed.forward(probe);
var resumedIdentical = continued.bytes.SequenceEqual(fromResumed.bytes);

// 6. The same adapters read back from PEFT's layout give the same outputs.
using var fromPeft = new SequenceClassifier();
fromPeft.LoadPretrained();
fromPeft.LoadAdapters(AdapterFolder);
fromPeft.LoadCheckpoint(WeightsPath);
fromPeft.eval();
using var atStep20 = new SequenceClassifier();
atStep20.LoadPretrained();
Lora.Inject(atStep20, IsAttentionProjection, Rank, Alpha, dropout: 0.05);
atStep20.LoadCheckpoint(WeightsPath);
atStep20.eval();
using var expected20 = atStep20.forward(probe);
using var actual20 = fromPeft.forward(probe);
var peftIdentical = expected20.bytes.SequenceEqual(actual20.bytes);

// 7. Merge: the adapters folded into the backbone's weights, which are plain Linear layers again.
var merged = Lora.Merge(model);
using var afterMerge = model.forward(probe);
// Each temporary held until read: one left unreferenced can be finalized while libtorch still works on it.
using var mergeDelta = afterMerge - continued;
using var mergeAbsolute = mergeDelta.abs();
using var mergeMax = mergeAbsolute.max();
var mergeDifference = mergeMax.item<float>();
var baseKeysOnly = model.state_dict().Keys.All(key => !key.Contains(".lora_", StringComparison.Ordinal));

// 8. The table.
static double Megabytes(string path) => (Directory.Exists(path) ? Directory.GetFiles(path).Sum(f => new FileInfo(f).Length) : new FileInfo(path).Length) / 1e6;
Console.WriteLine();
Console.WriteLine($"| {"file",-52} | {"size",9} |");
Console.WriteLine($"|{new string('-', 54)}|{new string('-', 11)}|");
Row("frozen backbone (the [Pretrained] source)", Megabytes(SequenceClassifier.BackboneWeights));
Row("TorchSharp Module.save of the whole model", Megabytes(FullPath));
Row("CheckpointGen checkpoint: LoRA adapters and head", Megabytes(WeightsPath));
Row("the same with Adam's state, to resume", Megabytes(ResumePath));
Row("PEFT adapter folder (SaveAdapters)", Megabytes(AdapterFolder));
Console.WriteLine($"(files in {Path.GetFullPath("checkpoints")})");
Console.WriteLine($"Resumed from step {training.Step} with the optimizer's state, backbone verified ({string.Join(", ", report.FingerprintsChecked)}), {MoreSteps} more steps: outputs bit-identical to the uninterrupted run: {(resumedIdentical ? "yes" : "NO")}");
Console.WriteLine($"Adapters read back from the PEFT folder: outputs bit-identical: {(peftIdentical ? "yes" : "NO")}");
Console.WriteLine($"Merged {merged.Count} adapters into the backbone: largest output difference {mergeDifference:E1}; only base keys left: {(baseKeysOnly ? "yes" : "NO")}");
return resumedIdentical && peftIdentical && mergeDifference < 1e-4 && baseKeysOnly ? 0 : 1;

static bool IsAttentionProjection(string path) => path.EndsWith(".q_proj", StringComparison.Ordinal) || path.EndsWith(".v_proj", StringComparison.Ordinal);

static SequenceClassifier NewModel()
{
    var model = new SequenceClassifier();
    model.LoadPretrained();
    Lora.Inject(model, IsAttentionProjection, Rank, Alpha, dropout: 0.05);
    return model;
}

// Adam steps over fixed batches: the same step number always sees the same data and the same dropout.
(double First, double Last) Train(SequenceClassifier target, optim.Optimizer steps, long from, long to)
{
    var (first, last) = (double.NaN, double.NaN);
    target.train();
    for (var step = from; step <= to; step++)
    {
        manual_seed(1000 + step);
        using var batch = inputs.narrow(0, (step * 8) % 64, 8);
        using var expectedLabels = labels.narrow(0, (step * 8) % 64, 8);
        using var logits = target.forward(batch);
        using var loss = nn.functional.cross_entropy(logits, expectedLabels);
        steps.zero_grad();
        loss.backward();
        steps.step();
        last = loss.item<float>();
        first = double.IsNaN(first) ? last : first;
    }
    target.eval();
    return (first, last);
}

static void Row(string name, double megabytes) => Console.WriteLine($"| {name,-52} | {megabytes,6:F2} MB |");
