using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using CheckpointGen.Format;
using CheckpointGen.Loading;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Adapters;

/// <summary>
/// Hugging Face PEFT's adapter folder, both ways: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>
/// (PEFT's <c>save_pretrained</c> / <c>from_pretrained</c>), with the keys <c>base_model.model.&lt;path&gt;.lora_A.weight</c>
/// and <c>.lora_B.weight</c>, paths relative to the model.
/// </summary>
internal static class PeftFiles
{
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>What PEFT wrote before it wrote safetensors by default: a <c>torch.save</c> state dict.</summary>
    public const string PickledWeightsFile = "adapter_model.bin";

    /// <summary>PEFT's prefix for a model wrapped by <c>get_peft_model</c>.</summary>
    public const string KeyPrefix = "base_model.model.";

    public static string Key(string path, string matrix) => $"{KeyPrefix}{path}.{matrix}.weight";

    /// <summary>Writes the model's LoRA adapters in PEFT's layout: each file replaced atomically, the weights first, then the config.</summary>
    public static void Save(CheckpointPolicy policy, string directory)
    {
        var adapted = Lora.Adapted(policy.Model);
        if (adapted.Count == 0)
        {
            throw new InvalidOperationException($"{policy.ModelType} has no LoRA adapters to save: add them with Lora.Inject(...) first.");
        }
        var config = PeftConfig.Describe(
            adapted.Select(a => (a.Path, a.Layer.Rank, a.Layer.Alpha, a.Layer.Dropout)).ToArray(),
            Lora.Targets(policy.Model).Select(t => t.Paths[0]).ToArray());
        var tensors = adapted
            .SelectMany(a => new[]
            {
                KeyValuePair.Create(Key(a.Path, LoraLinear.DownName), (Tensor)a.Layer.Down.weight),
                KeyValuePair.Create(Key(a.Path, LoraLinear.UpName), (Tensor)a.Layer.Up.weight),
            })
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .ToList();
        // PEFT's metadata, and CheckpointGen's checksum (with the layout that says what it covers) for LoadAdapters to verify.
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadata.Format] = "pt",
            [CheckpointMetadata.FormatVersion] = CheckpointMetadata.CurrentFormatVersion,
        };
        AtomicFile.Write(Path.Combine(directory, WeightsFile), stream => Safetensors.Write(stream, tensors, metadata, CheckpointMetadata.Checksum));
        var json = Encoding.UTF8.GetBytes(config.ToJson());
        AtomicFile.Write(Path.Combine(directory, PeftConfig.FileName), stream => stream.Write(json));
    }

    /// <summary>One adapter the folder fills: where, with which settings, and its two tensors' keys in the file.</summary>
    private sealed record AdapterLoad(string Path, Linear Layer, LoraLinear? Existing, int Rank, double Alpha)
    {
        public string DownKey => Key(Path, LoraLinear.DownName);

        public string UpKey => Key(Path, LoraLinear.UpName);
    }

    /// <summary>
    /// Reads a PEFT adapter folder into the model: onto the adapters it has, which must be exactly the ones the config
    /// describes (layers, rank, alpha, dropout), or, on a model with none, onto adapters injected as the config says.
    /// Every key, shape and dtype is checked and every tensor read before the model changes.
    /// </summary>
    /// <returns>The paths of the adapters loaded.</returns>
    public static IReadOnlyList<string> Load(CheckpointPolicy policy, string directory)
    {
        var folder = Path.GetFullPath(directory);
        if (!Directory.Exists(folder))
        {
            throw File.Exists(folder)
                ? new CheckpointFormatException(folder, $"it is a file; LoadAdapters reads a folder holding {PeftConfig.FileName} and {WeightsFile}, as PEFT's save_pretrained writes it.")
                : new DirectoryNotFoundException($"The PEFT adapter folder '{folder}' does not exist.");
        }
        var configPath = Path.Combine(folder, PeftConfig.FileName);
        var config = PeftConfig.Read(configPath);
        var weights = Path.Combine(folder, WeightsFile);
        var pickled = Path.Combine(folder, PickledWeightsFile);
        var files = WeightSource.Open(File.Exists(weights) || !File.Exists(pickled) ? weights : pickled, path => CheckpointFiles.OpenExisting(path, "PEFT adapter weights"));
        try
        {
            var file = files[0];
            var target = $"the LoRA adapters of {policy.ModelType}";
            List<AdapterLoad> loads;
            try
            {
                loads = Plan(policy.Model, config, folder, target);
            }
            catch (RegexMatchTimeoutException e)
            {
                throw new CheckpointFormatException(configPath, $"its pattern {Fragment.Quote(e.Pattern)} takes too long to match {Fragment.Quote(e.Input)}.", e);
            }
            var entries = Match(loads, file.Index, target);
            var staged = file.Loaded ?? Read(file, entries);
            try
            {
                // A pickle's tensors may view storage they share: copied, never taken over.
                Apply(loads, staged, config.Dropout, file.Loaded is null ? CheckpointLoadPlan.Install : (target, value) => target.copy_(value));
            }
            finally
            {
                if (file.Loaded is null)
                {
                    staged.Values.ToList().ForEach(t => t.Dispose());
                }
            }
            return loads.Select(l => l.Path).ToArray();
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }

    /// <summary>The adapters the folder fills, compared with the model's; every disagreement is named.</summary>
    private static List<AdapterLoad> Plan(nn.Module model, PeftConfig config, string folder, string target)
    {
        var layers = Lora.Targets(model);
        var selected = layers.Where(l => config.Targets(l.Paths[0])).ToList();
        var adapted = Lora.Adapted(model);
        var problems = new List<CheckpointProblem>();
        if (adapted.Count == 0)
        {
            if (selected.Count == 0)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.AdapterConfigMismatch, "target_modules",
                    "Linear layers " + (layers.Count == 0 ? "none" : Lora.Names(layers.Select(l => l.Paths[0]))), "none of them selected"));
            }
            StateMatcher.ThrowIfAny(problems, folder, target);
            Lora.RequireFree(selected.Select(s => (s.Paths[0], s.Layer)));
            return selected.Select(s => (s.Paths[0], s.Layer, Settings: config.SettingsOf(s.Paths[0])))
                .Select(s => new AdapterLoad(s.Item1, s.Layer, null, s.Settings.Rank, s.Settings.Alpha))
                .ToList();
        }

        var wanted = selected.Select(s => s.Paths[0]).ToHashSet(StringComparer.Ordinal);
        var loads = new List<AdapterLoad>();
        foreach (var (path, layer) in adapted)
        {
            if (!wanted.Remove(path))
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.AdapterConfigMismatch, path, Describe(layer.Rank, layer.Alpha, layer.Dropout), "no adapter (target_modules does not select the layer)"));
                continue;
            }
            var (rank, alpha) = config.SettingsOf(path);
            if (rank != layer.Rank || alpha != layer.Alpha || config.Dropout != layer.Dropout)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.AdapterConfigMismatch, path, Describe(layer.Rank, layer.Alpha, layer.Dropout), Describe(rank, alpha, config.Dropout)));
                continue;
            }
            loads.Add(new AdapterLoad(path, layer.Target, layer, rank, alpha));
        }
        foreach (var path in wanted)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.AdapterConfigMismatch, path, "no adapter", "an adapter (target_modules selects the layer): inject it, or leave the layer out of the config"));
        }
        StateMatcher.ThrowIfAny(problems, folder, target);
        return loads;
    }

    private static string Describe(int rank, double alpha, double dropout)
        => string.Create(CultureInfo.InvariantCulture, $"an adapter with r = {rank}, lora_alpha = {alpha}, lora_dropout = {dropout}");

    /// <summary>The file's entries, each matched to an adapter's tensor by key, dtype and shape; none missing, none unexpected.</summary>
    private static List<TensorEntry> Match(IReadOnlyList<AdapterLoad> loads, TensorFileIndex index, string target)
    {
        var expected = new Dictionary<string, (ScalarType Dtype, long[] Shape)>(StringComparer.Ordinal);
        foreach (var load in loads)
        {
            var dtype = load.Layer.weight.dtype;
            expected[load.DownKey] = (dtype, [load.Rank, load.Layer.in_features]);
            expected[load.UpKey] = (dtype, [load.Layer.out_features, load.Rank]);
        }
        var problems = new List<CheckpointProblem>();
        var entries = new List<TensorEntry>();
        foreach (var entry in index.Entries)
        {
            if (!expected.Remove(entry.Key, out var tensor))
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.UnexpectedKey, entry.Key, null, entry.Describe()));
            }
            else if (entry.Dtype != tensor.Dtype)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.DtypeMismatch, entry.Key, TensorEntry.DescribeTensor(tensor.Dtype, tensor.Shape), entry.Describe()));
            }
            else if (!entry.HasShape(tensor.Shape))
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.ShapeMismatch, entry.Key, TensorEntry.DescribeTensor(tensor.Dtype, tensor.Shape), entry.Describe()));
            }
            else
            {
                entries.Add(entry);
            }
        }
        problems.AddRange(expected.Select(e => new CheckpointProblem(CheckpointProblemKind.MissingKey, e.Key, TensorEntry.DescribeTensor(e.Value.Dtype, e.Value.Shape), null)));
        StateMatcher.ThrowIfAny(problems, index.Source, target);
        return entries;
    }

    /// <summary>Reads the entries whole, verifying the checksum CheckpointGen records (a file PEFT wrote has none).</summary>
    private static Dictionary<string, Tensor> Read(WeightFile file, List<TensorEntry> entries)
    {
        var index = file.Index;
        var recorded = CheckpointMetadata.RecordedChecksum(index);
        var hash = recorded is null ? null : CheckpointMetadata.StartChecksum(index);
        var staged = TensorFiles.Read(file.Stream!, 0, index, entries, hash);
        if (hash is not null && Checksum.Format(hash) is var actual && actual != recorded)
        {
            staged.Values.ToList().ForEach(t => t.Dispose());
            throw new CheckpointFormatException(index.Source, $"its data does not match the checksum recorded at save (recorded {recorded}, read {actual}): the file is damaged.");
        }
        return staged;
    }

    /// <summary>Injects the adapters the model lacks and copies every tensor in; nothing here can be refused.</summary>
    private static void Apply(IReadOnlyList<AdapterLoad> loads, Dictionary<string, Tensor> staged, double dropout, Action<Tensor, Tensor> install)
    {
        var layers = loads.Select(load => (load, Layer: load.Existing ?? LoraLinear.Add(load.Layer, load.Rank, load.Alpha, dropout))).ToList();
        using (no_grad())
        {
            foreach (var (load, layer) in layers)
            {
                install(layer.Down.weight, staged[load.DownKey]);
                install(layer.Up.weight, staged[load.UpKey]);
            }
        }
    }
}
