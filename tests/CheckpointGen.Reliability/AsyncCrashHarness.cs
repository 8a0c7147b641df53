using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>What a crash run of asynchronous saves saw.</summary>
public sealed record AsyncCrashReport(int Kills, int KilledMidWrite, int Unrestorable, int OverRetained, int LeftTemporaryFiles, long LastStep, IReadOnlyList<string> Failures)
{
    public override string ToString()
        => $"{Kills} SIGKILLs during asynchronous saves ({KilledMidWrite} with a temporary file being written): {Unrestorable} folders not restorable to the last durable step or later; " +
           $"{OverRetained} folders holding more than retention allows plus the one in flight; {LeftTemporaryFiles} temporary files left after a manager opened the folder; {LastStep} steps saved in all";
}

/// <summary>
/// A child process trains a model through a <see cref="CheckpointManager"/> with asynchronous saves: it resumes from the
/// folder, then saves steps n+1, n+2, … with every trainable tensor and every optimizer state tensor set to the step,
/// changing them right after each Save returns. It says "saved n" once step n is durable (the next Save returned). It is
/// killed with SIGKILL at a random moment; the folder must then restore to a step at least as new as the last one
/// acknowledged, with every tensor equal to that step (not torn, not mixed with later values), hold no more checkpoints
/// than retention allows plus the one whose deletions the kill interrupted, and a manager opening it removes every
/// temporary file.
/// </summary>
public static class AsyncCrashHarness
{
    public const int Features = 256;

    public static readonly CheckpointManagerOptions Options = new() { Async = true, KeepLast = 2, KeepBest = 1, Monitor = "loss" };

    /// <summary>The child: resumes, then saves forever.</summary>
    public static void SaveLoop(string folder)
    {
        using var model = new ReliabilityModel(Features);
        using var optimizer = Optimizer(model, withState: true);
        var training = new TrainingState { Optimizer = optimizer };
        using var manager = new CheckpointManager(model, folder, Options);
        var step = manager.RestoreLatest(training)?.Step ?? 0;
        for (step++; ; step++)
        {
            Fill(model, optimizer, step);
            manager.Save(step, training, new Dictionary<string, double> { ["loss"] = Loss(step) });
            // Changed at once: none of it may reach the file being written.
            Fill(model, optimizer, -step);
            Console.Out.WriteLine($"saved {step - 1}");
            Console.Out.Flush();
        }
    }

    public static AsyncCrashReport Run(int kills, int seed, string folder)
    {
        var random = new Random(seed);
        var failures = new List<string>();
        var (midWrite, unrestorable, overRetained, temporaries) = (0, 0, 0, 0);
        long last = 0;
        for (var kill = 0; kill < kills; kill++)
        {
            var acknowledged = CrashHarness.KillDuringSaves(folder, TimeSpan.FromMilliseconds(random.Next(0, 1000)), "async-save-loop");
            midWrite += Directory.GetFiles(folder, ".*.tmp").Length > 0 ? 1 : 0;
            var own = Directory.GetFiles(folder, "step-*.safetensors").Length;
            if (own > Options.KeepLast + Options.KeepBest + 1)
            {
                overRetained++;
                failures.Add($"kill {kill}: {own} checkpoints in the folder");
            }
            using var model = new ReliabilityModel(Features);
            using var optimizer = Optimizer(model, withState: false);
            var training = new TrainingState { Optimizer = optimizer };
            try
            {
                using var manager = new CheckpointManager(model, folder, Options);
                temporaries += Directory.GetFiles(folder, ".*.tmp").Length;
                var restored = manager.RestoreLatest(training);
                last = restored?.Step ?? 0;
                var values = Values(model, optimizer);
                if (restored is null || restored.Step < acknowledged || values.Length != 1 || values[0] != restored.Step || manager.Skipped.Count > 0)
                {
                    unrestorable++;
                    failures.Add($"kill {kill}: acknowledged step {acknowledged}, restored {restored?.Step.ToString() ?? "nothing"} holding [{string.Join(", ", values.Take(3))}]; skipped {manager.Skipped.Count}");
                }
            }
            catch (Exception e)
            {
                unrestorable++;
                failures.Add($"kill {kill}: after the last acknowledged step {acknowledged}, restoring failed: {e.Message}");
            }
        }
        return new AsyncCrashReport(kills, midWrite, unrestorable, overRetained, temporaries, last, failures);
    }

    private static double Loss(long step) => step * 7919 % 101 / 100.0;

    private static optim.Optimizer Optimizer(ReliabilityModel model, bool withState)
    {
        var optimizer = optim.SGD(model.TrainableParameters(), 0.01, momentum: 0.9);
        if (withState)
        {
            // One step creates the momentum buffers.
            using var output = model.forward(randn(4, 8));
            using var loss = output.pow(2).mean();
            loss.backward();
            optimizer.step();
        }
        return optimizer;
    }

    private static void Fill(ReliabilityModel model, optim.Optimizer optimizer, long step)
    {
        model.Fill(step);
        OptimizerStates.Fill(optimizer, step);
    }

    /// <summary>The distinct values of every trainable tensor and every optimizer state tensor.</summary>
    private static double[] Values(ReliabilityModel model, optim.Optimizer optimizer)
        => model.TrainableStateDict().Values.Concat(OptimizerStates.Tensors(optimizer))
            .SelectMany(ModelSnapshot.ValuesOf)
            .Distinct()
            .ToArray();
}
