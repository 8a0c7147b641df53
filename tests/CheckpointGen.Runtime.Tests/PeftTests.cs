using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using CheckpointGen.Testing;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// LoRA against real PyTorch, and Hugging Face PEFT's adapter folder both ways. PyTorch/make_lora.py wrote the
/// reference files under PyTorch/lora/; PyTorch/read_adapters.py reads what SaveAdapters writes, as PEFT would.
/// </summary>
public sealed class PeftTests : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private const string PeftAdapter = LoraClassifier.Folder + "/peft-adapter";

    private static readonly string[] PythonKeys = [.. from layer in new[] { 0, 1 }
                                                     from projection in new[] { "q_proj", "v_proj" }
                                                     from matrix in new[] { "lora_A", "lora_B" }
                                                     select $"base_model.model.backbone.layers.{layer}.attn.{projection}.{matrix}.weight"];

    private readonly TempFolder folder = new();
    private readonly Dictionary<string, Tensor> io = ReadAll(LoraClassifier.Folder + "/io.safetensors");

    public void Dispose()
    {
        folder.Dispose();
        foreach (var tensor in io.Values)
        {
            tensor.Dispose();
        }
    }

    private static Dictionary<string, Tensor> ReadAll(string path)
    {
        using var file = File.OpenRead(path);
        var index = Format.Safetensors.ReadIndex(file, path, file.Length);
        return Format.TensorFiles.Read(file, 0, index, index.Entries);
    }

    /// <summary>The model with PyTorch's base weights: the backbone from its [Pretrained] source, the head from the same file.</summary>
    private static LoraClassifier PyTorchBase()
    {
        var model = new LoraClassifier();
        model.LoadPretrained();
        model.LoadCheckpoint(LoraClassifier.Source);
        model.eval();
        return model;
    }

    private static bool Projection(string path) => path.EndsWith("q_proj", StringComparison.Ordinal) || path.EndsWith("v_proj", StringComparison.Ordinal);

    /// <summary>A copy of PyTorch's adapter folder, to damage.</summary>
    private string CopyOfPeftAdapter(Action<JsonObject>? editConfig = null)
    {
        var copy = Directory.CreateDirectory(folder.File("peft-adapter-" + Guid.NewGuid().ToString("N"))).FullName;
        foreach (var file in Directory.GetFiles(PeftAdapter))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }
        if (editConfig is not null)
        {
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "adapter_config.json")))!.AsObject();
            editConfig(config);
            File.WriteAllText(Path.Combine(copy, "adapter_config.json"), config.ToJsonString());
        }
        return copy;
    }

    private void AssertComputes(LoraClassifier model, string expected)
    {
        model.eval();
        using var actual = model.forward(io["input"]);
        var difference = Tensors.MaxAbsDifference(actual, io[expected]);
        Assert.True(difference <= 1e-5, $"max difference from PyTorch's '{expected}' output: {difference}");
    }

    [Fact]
    public void The_base_model_computes_what_PyTorch_computes()
    {
        using var model = PyTorchBase();

        AssertComputes(model, "base");
    }

    [Fact]
    public void A_PEFT_folder_written_with_PyTorch_loads_onto_a_model_without_adapters_as_from_pretrained_does()
    {
        using var model = PyTorchBase();

        var loaded = model.LoadAdapters(PeftAdapter);

        Assert.Equal(["backbone.layers.0.attn.q_proj", "backbone.layers.0.attn.v_proj", "backbone.layers.1.attn.q_proj", "backbone.layers.1.attn.v_proj"], loaded);
        AssertComputes(model, "adapted");
        // rank_pattern gives the last v_proj rank 2.
        Assert.Equal([2L, 16L], model.state_dict()["backbone.layers.1.attn.v_proj.lora_A.weight"].shape);
        Assert.All(model.TrainableParameters(), p => Assert.True(p.requires_grad));
        Assert.Equal(2 + 8, model.TrainableParameters().Count());
    }

    [Fact]
    public void A_PEFT_folder_written_with_PyTorch_loads_onto_the_adapters_injected_as_its_config_says()
    {
        using var model = PyTorchBase();
        Lora.Inject(model, path => Projection(path) && path != "backbone.layers.1.attn.v_proj", rank: 4, alpha: 8, dropout: 0.1);
        Lora.Inject(model, path => path == "backbone.layers.1.attn.v_proj", rank: 2, alpha: 8, dropout: 0.1);

        model.LoadAdapters(PeftAdapter);

        AssertComputes(model, "adapted");
    }

    [Fact]
    public void Merging_gives_PyTorchs_merged_weights_and_outputs()
    {
        using var model = PyTorchBase();
        model.LoadAdapters(PeftAdapter);

        Lora.Merge(model);

        AssertComputes(model, "merged");
        var merged = ReadAll(LoraClassifier.Folder + "/merged.safetensors");
        Assert.Equal(merged.Keys.Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.All(merged, e => Assert.True(e.Value.allclose(model.state_dict()[e.Key], rtol: 1e-5, atol: 1e-6), e.Key));
    }

    [Fact]
    public void SaveAdapters_writes_a_folder_that_PEFTs_rules_read_in_PyTorch_with_the_same_outputs()
    {
        manual_seed(1);
        using var model = PyTorchBase();
        Lora.Inject(model, Projection, rank: 4, alpha: 8, dropout: 0.05);
        foreach (var (key, tensor) in model.state_dict().Where(e => e.Key.Contains("lora_", StringComparison.Ordinal)))
        {
            using var noGrad = no_grad();
            using var values = randn_like(tensor);
            tensor.copy_(values);
        }
        var adapters = folder.File("saved-adapters");
        var outputs = folder.File("pytorch-outputs.safetensors");

        model.SaveAdapters(adapters);
        var python = ProcessRunner.Run(Python, [Path.GetFullPath("PyTorch/read_adapters.py"), adapters, Path.GetFullPath(LoraClassifier.Folder), outputs]);

        Assert.True(python.ExitCode == 0, python.Log);
        var read = JsonNode.Parse(python.Output)!;
        Assert.Equal(PythonKeys, read["keys"]!.AsArray().Select(k => (string)k!));
        Assert.Equal("pt", (string)read["metadata"]!["format"]!);
        var config = read["config"]!;
        Assert.Equal("LORA", (string)config["peft_type"]!);
        Assert.Equal(4, (int)config["r"]!);
        Assert.Equal(8.0, (double)config["lora_alpha"]!);
        Assert.Equal(0.05, (double)config["lora_dropout"]!);
        Assert.Equal(["q_proj", "v_proj"], config["target_modules"]!.AsArray().Select(t => (string)t!));
        Assert.Equal("none", (string)config["bias"]!);
        Assert.False((bool)config["fan_in_fan_out"]!);
        Assert.True((bool)config["inference_mode"]!);
        model.eval();
        using var expected = model.forward(io["input"]);
        var fromPython = ReadAll(outputs)["output"];
        Assert.True(fromPython.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max difference {Tensors.MaxAbsDifference(fromPython, expected)}");
    }

    [Fact]
    public void SaveAdapters_then_LoadAdapters_gives_the_same_outputs_bit_for_bit()
    {
        manual_seed(2);
        using var model = PyTorchBase();
        model.LoadAdapters(PeftAdapter);
        var adapters = folder.File("round-trip");
        model.SaveAdapters(adapters);
        using var fresh = PyTorchBase();

        fresh.LoadAdapters(adapters);

        using var expected = model.forward(io["input"]);
        using var actual = fresh.forward(io["input"]);
        Assert.True(Tensors.BitIdentical(expected, actual));
        // Three adapters of rank 4 and one of rank 2: r is 4, and rank_pattern names the other by its path.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(adapters, "adapter_config.json")))!;
        Assert.Equal(4, (int)config["r"]!);
        Assert.Equal("""{"backbone.layers.1.attn.v_proj":2}""", config["rank_pattern"]!.ToJsonString());
        Assert.Equal("{}", config["alpha_pattern"]!.ToJsonString());
    }

    [Fact]
    public void SaveAdapters_names_target_modules_by_their_last_names_only_where_those_choose_exactly_the_adapted_layers()
    {
        using var everywhere = PyTorchBase();
        Lora.Inject(everywhere, Projection, rank: 4, alpha: 8);
        using var firstLayer = PyTorchBase();
        Lora.Inject(firstLayer, path => path.StartsWith("backbone.layers.0.", StringComparison.Ordinal) && Projection(path), rank: 4, alpha: 8);

        everywhere.SaveAdapters(folder.File("everywhere"));
        firstLayer.SaveAdapters(folder.File("first-layer"));

        JsonNode Config(string name) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder.File(name), "adapter_config.json")))!;
        Assert.Equal(["q_proj", "v_proj"], Config("everywhere")["target_modules"]!.AsArray().Select(t => (string)t!));
        Assert.Equal(["backbone.layers.0.attn.q_proj", "backbone.layers.0.attn.v_proj"], Config("first-layer")["target_modules"]!.AsArray().Select(t => (string)t!));
        using var reloaded = PyTorchBase();
        Assert.Equal(["backbone.layers.0.attn.q_proj", "backbone.layers.0.attn.v_proj"], reloaded.LoadAdapters(folder.File("first-layer")));
    }

    [Fact]
    public void SaveAdapters_refuses_a_model_without_adapters_and_adapters_whose_dropouts_differ()
    {
        using var model = PyTorchBase();

        var none = Assert.Throws<InvalidOperationException>(() => model.SaveAdapters(folder.File("none")));
        Lora.Inject(model, path => path.EndsWith("q_proj", StringComparison.Ordinal), rank: 4, alpha: 8, dropout: 0.1);
        Lora.Inject(model, path => path.EndsWith("v_proj", StringComparison.Ordinal), rank: 4, alpha: 8, dropout: 0.2);
        var dropouts = Assert.Throws<InvalidOperationException>(() => model.SaveAdapters(folder.File("dropouts")));

        Assert.Contains("has no LoRA adapters to save: add them with Lora.Inject", none.Message);
        Assert.Contains("different dropouts (0.1, 0.2)", dropouts.Message);
        Assert.False(Directory.Exists(folder.File("dropouts")));
    }

    [Fact]
    public void LoadAdapters_refuses_a_config_that_describes_other_adapters_than_the_injected_ones_and_changes_nothing()
    {
        using var model = PyTorchBase();
        Lora.Inject(model, path => path.EndsWith("q_proj", StringComparison.Ordinal) || path.EndsWith("k_proj", StringComparison.Ordinal), rank: 8, alpha: 8, dropout: 0.1);
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointMismatchException>(() => model.LoadAdapters(PeftAdapter));

        var problems = error.Problems.ToDictionary(p => p.Key, p => p);
        Assert.Equal(
            ["backbone.layers.0.attn.k_proj", "backbone.layers.0.attn.q_proj", "backbone.layers.0.attn.v_proj",
             "backbone.layers.1.attn.k_proj", "backbone.layers.1.attn.q_proj", "backbone.layers.1.attn.v_proj"],
            problems.Keys.Order(StringComparer.Ordinal));
        Assert.All(error.Problems, p => Assert.Equal(CheckpointProblemKind.AdapterConfigMismatch, p.Kind));
        Assert.Equal("an adapter with r = 8, lora_alpha = 8, lora_dropout = 0.1", problems["backbone.layers.0.attn.q_proj"].Expected);
        Assert.Equal("an adapter with r = 4, lora_alpha = 8, lora_dropout = 0.1", problems["backbone.layers.0.attn.q_proj"].Found);
        Assert.StartsWith("no adapter", problems["backbone.layers.0.attn.k_proj"].Found);
        Assert.StartsWith("an adapter (target_modules selects the layer)", problems["backbone.layers.1.attn.v_proj"].Found);
        Assert.Contains("LoRA adapter config for 'backbone.layers.0.attn.q_proj': the model has an adapter with r = 8", error.Message);
        before.AssertUnchanged(model);
    }

    [Fact]
    public void LoadAdapters_refuses_missing_unexpected_and_misshapen_tensors_all_named_and_changes_nothing()
    {
        var damaged = CopyOfPeftAdapter();
        var weights = Path.Combine(damaged, "adapter_model.safetensors");
        var tensors = ReadAll(weights);
        tensors.Remove(PythonKeys[0]);
        tensors[PythonKeys[1]] = zeros(16, 3);
        tensors["base_model.model.backbone.layers.0.attn.k_proj.lora_A.weight"] = zeros(4, 16);
        WeightFiles.WriteSafetensors(weights, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var model = PyTorchBase();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointMismatchException>(() => model.LoadAdapters(damaged));

        Assert.Equal(
            [(CheckpointProblemKind.MissingKey, PythonKeys[0]), (CheckpointProblemKind.UnexpectedKey, "base_model.model.backbone.layers.0.attn.k_proj.lora_A.weight"), (CheckpointProblemKind.ShapeMismatch, PythonKeys[1])],
            error.Problems.Select(p => (p.Kind, p.Key)));
        before.AssertUnchanged(model);
        Assert.Empty(Lora.AdaptedPaths(model));
    }

    public static TheoryData<string, string> UnsupportedConfigs => new()
    {
        { """{"peft_type": "IA3"}""", "'peft_type' is 'IA3': CheckpointGen reads LoRA adapters (\"LORA\") only" },
        { """{"bias": "all"}""", "'bias' is '\"all\"': the adapter uses trained biases" },
        { """{"use_dora": true}""", "'use_dora' is 'true': the adapter uses DoRA" },
        { """{"use_rslora": true}""", "rank-stabilised scaling" },
        { """{"fan_in_fan_out": true}""", "transposed (Conv1D) base weights" },
        { """{"modules_to_save": ["head"]}""", "whole modules saved beside the adapters" },
        { """{"target_modules": "all-linear"}""", "\"all-linear\", which PEFT resolves with the model's architecture" },
        { """{"target_modules": null}""", "it names no 'target_modules'" },
        { """{"r": 4.5}""", "'r' is not an integer" },
        { """{"target_modules": "q_proj("}""", "is not a regular expression" },
    };

    [Theory]
    [MemberData(nameof(UnsupportedConfigs))]
    public void LoadAdapters_refuses_a_config_whose_adapters_CheckpointGen_does_not_compute(string change, string expected)
    {
        var damaged = CopyOfPeftAdapter(config =>
        {
            foreach (var (key, value) in JsonNode.Parse(change)!.AsObject())
            {
                config[key] = value?.DeepClone();
            }
        });
        using var model = PyTorchBase();

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadAdapters(damaged));

        Assert.Contains(expected, error.Message);
        Assert.Contains("adapter_config.json", error.Message);
        Assert.Empty(Lora.AdaptedPaths(model));
    }

    [Fact]
    public void LoadAdapters_names_a_missing_folder_and_a_file_given_for_the_folder()
    {
        using var model = PyTorchBase();

        Assert.Throws<DirectoryNotFoundException>(() => model.LoadAdapters(folder.File("nowhere")));
        var file = Assert.Throws<CheckpointFormatException>(() => model.LoadAdapters(Path.Combine(PeftAdapter, "adapter_config.json")));
        Assert.Contains("it is a file; LoadAdapters reads a folder holding adapter_config.json and adapter_model.safetensors", file.Message);
    }

    [Fact]
    public void A_damaged_folder_written_by_SaveAdapters_is_refused_by_its_checksum()
    {
        using var model = PyTorchBase();
        model.LoadAdapters(PeftAdapter);
        var saved = folder.File("saved");
        model.SaveAdapters(saved);
        var weights = Path.Combine(saved, "adapter_model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[^3] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        using var fresh = PyTorchBase();

        var error = Assert.Throws<CheckpointFormatException>(() => fresh.LoadAdapters(saved));

        Assert.Contains("does not match the checksum", error.Message);
        Assert.Empty(Lora.AdaptedPaths(fresh));
    }
}
