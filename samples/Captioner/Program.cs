using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using CheckpointGen;
using CheckpointGen.Samples;
using static TorchSharp.torch;

// Relative [Pretrained] sources resolve against the current directory: keep this run's files beside the program.
Directory.SetCurrentDirectory(AppContext.BaseDirectory);
const int Steps = 30;
const int Repeats = 5;

// 1. The "pretrained" encoder: made once, deterministically, as a download would be.
if (!File.Exists(Captioner.EncoderWeights))
{
    manual_seed(42);
    using var pretrained = new ImageEncoder();
    Directory.CreateDirectory(Path.GetDirectoryName(Captioner.EncoderWeights)!);
    pretrained.save(Captioner.EncoderWeights);
    Console.WriteLine($"Wrote pretrained encoder weights to {Captioner.EncoderWeights}");
}

// 2. The model loads its frozen part from [Pretrained(...)].
manual_seed(0);
using var model = new Captioner();
model.LoadPretrained();
var frozen = model.Encoder.parameters().Sum(p => p.numel());
var trainable = model.TrainableParameters().Sum(p => p.numel());
Console.WriteLine($"Model: {frozen:N0} frozen pretrained parameters ({100.0 * frozen / (frozen + trainable):F1} %), {trainable:N0} trainable");

// 3. A few training steps on synthetic data: only the head learns. A CheckpointManager saves every 10 steps in the
//    background (weights, Adam's state, the step, the loss) and keeps the newest two and the best one.
using var inputs = randn(256, ImageEncoder.Inputs);
using var labels = randint(Captioner.Classes, [256]);
using var optimizer = optim.Adam(model.TrainableParameters(), lr: 1e-3);
const string RunFolder = "checkpoints/run";
if (Directory.Exists(RunFolder))
{
    Directory.Delete(RunFolder, recursive: true);
}
var runOptions = new CheckpointManagerOptions { EveryNSteps = 10, KeepLast = 2, KeepBest = 1, Monitor = "loss", Async = true };
using (var manager = new CheckpointManager(model, RunFolder, runOptions))
{
    Train(model, optimizer, 1, Steps, showProgress: true, manager);
}

// 4. Save both ways, then reload each into a fresh model and compare outputs bit for bit.
Directory.CreateDirectory("checkpoints");
const string FullPath = "checkpoints/full-torchsharp.dat";
const string TrainablePath = "checkpoints/step-30.safetensors";
using var probe = randn(8, ImageEncoder.Inputs);
using var expected = model.forward(probe);

// The baseline, on purpose: TorchSharp's own save and strict load, which carry the frozen weights too.
#pragma warning disable CKPT020, CKPT021
var fullSave = Median(() => model.save(FullPath));
using var fromFull = new Captioner();
var fullLoad = Median(() => fromFull.load(FullPath));
#pragma warning restore CKPT020, CKPT021

var trainableSave = Median(() => model.SaveCheckpoint(TrainablePath, ProgressBar.ForLargeFiles));
using var fromCheckpoint = new Captioner();
fromCheckpoint.LoadPretrained();
var trainableLoad = Median(() => fromCheckpoint.LoadCheckpoint(TrainablePath, new CheckpointLoadOptions { Progress = ProgressBar.ForLargeFiles }));

var identical = new[] { fromFull, fromCheckpoint }.Select(m =>
{
    m.eval();
    using var actual = m.forward(probe);
    return actual.bytes.SequenceEqual(expected.bytes);
}).ToArray();

// 5. Resume, as after a restart: a new manager over the run's folder restores the newest checkpoint that loads into a
//    fresh model and optimizer, which then continue exactly where this run is.
using var resumed = new Captioner();
resumed.LoadPretrained();
using var resumedOptimizer = optim.Adam(resumed.TrainableParameters().Reverse(), lr: 1e-3);
var training = new TrainingState { Optimizer = resumedOptimizer };
string kept;
using (var restarted = new CheckpointManager(resumed, RunFolder, runOptions))
{
    restarted.RestoreLatest(training);
    kept = string.Join(", ", restarted.Checkpoints.Select(c => $"{Path.GetFileName(c.Path)} (loss {c.Metrics["loss"]:F4})"));
}
Train(model, optimizer, Steps + 1, Steps + 10, showProgress: false);
Train(resumed, resumedOptimizer, training.Step + 1, training.Step + 10, showProgress: false);
using var continued = model.forward(probe);
using var fromResumed = resumed.forward(probe);
var resumedIdentical = continued.bytes.SequenceEqual(fromResumed.bytes);

// 6. The table.
var fullBytes = new FileInfo(FullPath).Length;
var trainableBytes = new FileInfo(TrainablePath).Length;
Console.WriteLine();
Console.WriteLine($"| {"checkpoint",-28} | {"size",10} | {"save",9} | {"load",9} | outputs identical |");
Console.WriteLine($"|{new string('-', 30)}|{new string('-', 12)}|{new string('-', 11)}|{new string('-', 11)}|{new string('-', 19)}|");
Row("TorchSharp Module.save", fullBytes, fullSave, fullLoad, identical[0]);
Row("CheckpointGen", trainableBytes, trainableSave, trainableLoad, identical[1]);
Console.WriteLine($"| {"ratio full / CheckpointGen",-28} | {(double)fullBytes / trainableBytes,9:F1}x | {fullSave / trainableSave,8:F1}x | {fullLoad / trainableLoad,8:F1}x | {"",17} |");
Console.WriteLine($"(median of {Repeats} saves and loads each; files in {Path.GetFullPath("checkpoints")})");
Console.WriteLine($"Checkpoints kept in {Path.GetFullPath(RunFolder)}: {kept}");
Console.WriteLine($"Resumed from step {training.Step} with the optimizer's state (parameters given in reverse order), 10 more steps: outputs bit-identical to the uninterrupted run: {(resumedIdentical ? "yes" : "NO")}");
return identical.All(x => x) && resumedIdentical ? 0 : 1;

// Adam steps over fixed batches: the same step number always sees the same data.
void Train(Captioner target, optim.Optimizer steps, long from, long to, bool showProgress, CheckpointManager? manager = null)
{
    var state = new TrainingState { Optimizer = steps, Metadata = { ["data"] = "synthetic, seed 0" } };
    target.train();
    for (var step = from; step <= to; step++)
    {
        using var batch = inputs.narrow(0, (step * 64) % 256, 64);
        using var expectedLabels = labels.narrow(0, (step * 64) % 256, 64);
        using var logits = target.forward(batch);
        using var loss = nn.functional.cross_entropy(logits, expectedLabels);
        steps.zero_grad();
        loss.backward();
        steps.step();
        manager?.SaveIfDue(step, state, new Dictionary<string, double> { ["loss"] = loss.item<float>() });
        var progress = $"Training: step {step,2}/{to} [{new string('#', (int)(step * 20 / to)),-20}] loss {loss.item<float>():F4}";
        if (showProgress && !Console.IsOutputRedirected)
        {
            Console.Write("\r" + progress);
        }
        else if (showProgress && step % 10 == 0)
        {
            Console.WriteLine(progress);
        }
    }
    if (showProgress && !Console.IsOutputRedirected)
    {
        Console.WriteLine();
    }
    target.eval();
}

static double Median(Action action)
{
    var times = new List<double>();
    for (var i = 0; i < Repeats; i++)
    {
        var clock = Stopwatch.StartNew();
        action();
        times.Add(clock.Elapsed.TotalMilliseconds);
    }
    return times.Order().ElementAt(Repeats / 2);
}

static void Row(string name, long bytes, double save, double load, bool identical)
    => Console.WriteLine($"| {name,-28} | {bytes / 1e6,7:F2} MB | {save,6:F1} ms | {load,6:F1} ms | {(identical ? "yes" : "NO"),-17} |");
