using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// Adapters inside a frozen part, declared with <c>[Adapter]</c> or added by <c>Lora.Inject</c>: they train and are
/// checkpointed, while the rest of the part stays frozen, left out and verified.
/// </summary>
public sealed class AdapterTests : IDisposable
{
    private static readonly string[] AdapterKeys = ["vae.adapter.down.bias", "vae.adapter.down.weight", "vae.adapter.up.bias", "vae.adapter.up.weight"];

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    /// <summary>The pretrained source of <see cref="AdaptedCaptioner"/>: an encoder's weights without the adapter, as a download would have them.</summary>
    private static void WriteSource(int seed, Func<string, bool>? keep = null)
    {
        manual_seed(seed);
        using var encoder = new AdaptedEncoder();
        WeightFiles.WriteSafetensors(AdaptedCaptioner.Source, encoder.state_dict().Where(e => (keep ?? (key => !key.StartsWith("adapter.", StringComparison.Ordinal)))(e.Key)));
    }

    private static LoraClassifier LoraModel()
    {
        var model = new LoraClassifier();
        model.LoadPretrained();
        Lora.Inject(model.Backbone, path => path.EndsWith("q_proj", StringComparison.Ordinal) || path.EndsWith("v_proj", StringComparison.Ordinal), rank: 4, alpha: 8);
        return model;
    }

    private static IEnumerable<string> Names(nn.Module model, IEnumerable<TorchSharp.Modules.Parameter> parameters)
    {
        var handles = parameters.Select(p => p.Handle).ToHashSet();
        return model.named_parameters().Where(p => handles.Contains(p.parameter.Handle)).Select(p => p.name).Order(StringComparer.Ordinal);
    }

    [Fact]
    public void FreezePretrained_leaves_the_adapters_trainable_and_freezes_the_rest_of_the_part()
    {
        using var model = new AdaptedCaptioner();

        Assert.All(model.Vae.Adapter.parameters(), p => Assert.True(p.requires_grad));
        Assert.All(model.Vae.named_parameters().Where(p => !p.name.StartsWith("adapter.", StringComparison.Ordinal)), p => Assert.False(p.parameter.requires_grad, p.name));
        Assert.Equal(["head.bias", "head.weight", .. AdapterKeys], Names(model, model.TrainableParameters()));
        Assert.Equal(["head.bias", "head.weight", .. AdapterKeys], model.TrainableStateDict().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["vae."], model.PretrainedPrefixes);
    }

    [Fact]
    public void Train_puts_the_adapters_in_training_mode_and_keeps_the_rest_of_the_part_in_eval()
    {
        using var model = new AdaptedCaptioner();

        model.train();

        Assert.False(model.Vae.training);
        Assert.False(model.Vae.Norm.training);
        Assert.True(model.Vae.Adapter.training);
        Assert.All(model.Vae.Adapter.children(), child => Assert.True(child.training));

        model.eval();

        Assert.False(model.Vae.Adapter.training);
        Assert.All(model.Vae.Adapter.children(), child => Assert.False(child.training));
    }

    [Fact]
    public void A_checkpoint_holds_the_adapters_with_the_trainable_part_and_nothing_else_of_the_frozen_part()
    {
        WriteSource(1);
        using var model = new AdaptedCaptioner();
        model.LoadPretrained();
        var path = folder.File("ckpt.safetensors");

        model.SaveCheckpoint(path);

        Assert.Equal(["head.bias", "head.weight", .. AdapterKeys], WeightFiles.Keys(path));
        Assert.Equal("[\"vae.\"]", WeightFiles.Metadata(path)["checkpointgen.excluded"]);
    }

    [Fact]
    public void Training_the_adapters_never_makes_a_checkpoint_refuse_to_load()
    {
        WriteSource(2);
        var before = folder.File("before.safetensors");
        var after = folder.File("after.safetensors");
        manual_seed(3);
        using var model = new AdaptedCaptioner();
        model.LoadPretrained();
        model.SaveCheckpoint(before);
        using var adapterBefore = model.Vae.Adapter.state_dict()["up.weight"].clone();

        Tensors.Train(model, model.TrainableParameters(), steps: 5);
        model.SaveCheckpoint(after);

        Assert.False(Tensors.BitIdentical(adapterBefore, model.Vae.Adapter.state_dict()["up.weight"]));
        Assert.Equal(WeightFiles.Metadata(before)["checkpointgen.content.vae."], WeightFiles.Metadata(after)["checkpointgen.content.vae."]);
        Assert.Equal(WeightFiles.Metadata(before)["checkpointgen.fingerprint.vae."], WeightFiles.Metadata(after)["checkpointgen.fingerprint.vae."]);
        using var resumed = new AdaptedCaptioner();
        resumed.LoadPretrained();

        var report = resumed.LoadCheckpoint(after);

        Assert.Equal(["vae."], report.FingerprintsChecked);
        Assert.Equal(["head.bias", "head.weight", .. AdapterKeys], report.LoadedKeys.Order(StringComparer.Ordinal));
        resumed.eval();
        using var input = randn(6, 16);
        using var expected = model.forward(input);
        using var actual = resumed.forward(input);
        Assert.True(Tensors.BitIdentical(expected, actual));
    }

    [Fact]
    public void LoadCheckpoint_requires_the_adapters_and_names_each_one_missing()
    {
        WriteSource(4);
        using var model = new AdaptedCaptioner();
        model.LoadPretrained();
        var path = folder.File("no-adapters.safetensors");
        WeightFiles.WriteSafetensors(path, model.TrainableStateDict().Where(e => !e.Key.StartsWith("vae.", StringComparison.Ordinal)));
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointMismatchException>(() => model.LoadCheckpoint(path));

        Assert.Equal(AdapterKeys, error.Problems.Where(p => p.Kind == CheckpointProblemKind.MissingKey).Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(4, error.Problems.Count);
        before.AssertUnchanged(model);
    }

    [Fact]
    public void LoadPretrained_loads_the_base_from_a_source_without_adapter_keys_and_leaves_the_adapters_as_they_were()
    {
        WriteSource(5);
        using var model = new AdaptedCaptioner();
        using var adapters = new ModelSnapshot(model.Vae.Adapter);

        model.LoadPretrained();

        adapters.AssertUnchanged(model.Vae.Adapter);
        manual_seed(5);
        using var source = new AdaptedEncoder();
        Assert.True(Tensors.BitIdentical(source.state_dict()["input.weight"], model.Vae.state_dict()["input.weight"]));
        Assert.All(model.Vae.Adapter.parameters(), p => Assert.True(p.requires_grad));
        Assert.DoesNotContain(model.Vae.named_parameters(), p => p.parameter.requires_grad && !p.name.StartsWith("adapter.", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadPretrained_still_refuses_a_source_missing_a_base_key_and_asks_for_no_adapter_key()
    {
        WriteSource(6, key => !key.StartsWith("adapter.", StringComparison.Ordinal) && key != "norm.running_mean");
        using var model = new AdaptedCaptioner();

        var error = Assert.Throws<CheckpointMismatchException>(model.LoadPretrained);

        var problem = Assert.Single(error.Problems);
        Assert.Equal((CheckpointProblemKind.MissingKey, "norm.running_mean"), (problem.Kind, problem.Key));
    }

    [Fact]
    public void A_pretrained_source_holding_the_adapters_is_refused_since_adapters_are_trained_not_loaded()
    {
        WriteSource(7, _ => true);
        using var model = new AdaptedCaptioner();

        var error = Assert.Throws<CheckpointMismatchException>(model.LoadPretrained);

        Assert.Equal(["adapter.down.bias", "adapter.down.weight", "adapter.up.bias", "adapter.up.weight"], error.Problems.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.All(error.Problems, p => Assert.Equal(CheckpointProblemKind.UnexpectedKey, p.Kind));
    }

    [Fact]
    public void A_save_still_refuses_a_base_parameter_of_the_part_that_requires_grad()
    {
        using var model = new AdaptedCaptioner();
        model.Vae.Norm.weight!.requires_grad = true;
        var path = folder.File("ckpt.safetensors");

        var error = Assert.Throws<InvalidOperationException>(() => model.SaveCheckpoint(path));

        Assert.Contains("'vae.norm.weight' requires grad", error.Message);
    }

    [Fact]
    public void An_adapter_that_is_not_registered_is_refused_by_name()
    {
        using var model = new LateAdapterModel();
        model.Encoder.Attach();

        var error = Assert.Throws<InvalidOperationException>(() => model.TrainableParameters());

        Assert.Contains("CheckpointGen.Runtime.Tests.Models.LateAdapterEncoder.adapter is marked [Adapter] but is not a registered submodule", error.Message);
    }

    [Fact]
    public void LoRA_adapters_that_Inject_adds_inside_a_pretrained_part_are_adapters()
    {
        using var model = LoraModel();
        string[] lora = [.. from layer in new[] { 0, 1 }
                            from projection in new[] { "q_proj", "v_proj" }
                            from matrix in new[] { "lora_A", "lora_B" }
                            select $"backbone.layers.{layer}.attn.{projection}.{matrix}.weight"];

        model.FreezePretrained();
        model.train();

        Assert.Equal([.. lora.Order(StringComparer.Ordinal), "head.bias", "head.weight"], Names(model, model.TrainableParameters()));
        Assert.Equal([.. lora.Order(StringComparer.Ordinal), "head.bias", "head.weight"], model.TrainableStateDict().Keys.Order(StringComparer.Ordinal));
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        Assert.True(modules["backbone.layers.0.attn.q_proj.lora_A"].training);
        Assert.False(modules["backbone.layers.0.attn.q_proj"].training);
        Assert.True(modules["backbone.layers.0.attn.q_proj.lora_A"].parameters().Single().requires_grad);
        Assert.False(((TorchSharp.Modules.Linear)modules["backbone.layers.0.attn.q_proj"]).weight.requires_grad);
    }

    [Fact]
    public void A_LoRA_run_resumes_exactly_with_its_optimizer_while_the_frozen_backbone_is_verified()
    {
        var path = folder.File("lora-step-5.safetensors");
        manual_seed(8);
        using var model = LoraModel();
        using var optimizer = optim.Adam(model.TrainableParameters(), lr: 0.01);
        using var input = randn(4, 5, LoraClassifier.Dim);
        void Step(LoraClassifier target, optim.Optimizer steps)
        {
            target.train();
            using var output = target.forward(input);
            using var loss = output.pow(2).mean();
            steps.zero_grad();
            loss.backward();
            steps.step();
            target.eval();
        }
        for (var i = 0; i < 5; i++)
        {
            Step(model, optimizer);
        }
        model.SaveCheckpoint(path, new TrainingState { Optimizer = optimizer, Step = 5 });

        using var resumed = LoraModel();
        using var resumedOptimizer = optim.Adam(resumed.TrainableParameters(), lr: 0.01);
        var training = new TrainingState { Optimizer = resumedOptimizer };
        var report = resumed.LoadCheckpoint(path, training);
        Step(model, optimizer);
        Step(resumed, resumedOptimizer);

        Assert.Equal(["backbone."], report.FingerprintsChecked);
        Assert.Equal(5, training.Step);
        using var expected = model.forward(input);
        using var actual = resumed.forward(input);
        Assert.True(Tensors.BitIdentical(expected, actual));
        Assert.True(new System.IO.FileInfo(path).Length < 20_000);
    }

    [Fact]
    public void A_background_save_of_a_checkpoint_manager_holds_the_adapters_as_they_were_at_the_call()
    {
        manual_seed(9);
        using var model = LoraModel();
        var up = model.state_dict()["backbone.layers.0.attn.q_proj.lora_B.weight"];
        using (no_grad())
        {
            up.add_(1);
        }
        using var saved = up.clone();
        using (var manager = new CheckpointManager(model, folder.File("run"), new CheckpointManagerOptions { Async = true }))
        {
            manager.Save(step: 1);
            using (no_grad())
            {
                up.add_(1);
            }
        }
        using var resumed = LoraModel();
        using var restorer = new CheckpointManager(resumed, folder.File("run"));

        var restored = restorer.RestoreLatest();

        Assert.Equal(1, restored?.Step);
        Assert.True(Tensors.BitIdentical(saved, resumed.state_dict()["backbone.layers.0.attn.q_proj.lora_B.weight"]));
    }

    [Fact]
    public void A_LoRA_checkpoint_does_not_load_into_a_model_without_the_adapters()
    {
        var path = folder.File("lora.safetensors");
        using (var model = LoraModel())
        {
            model.SaveCheckpoint(path);
        }
        using var plain = new LoraClassifier();
        plain.LoadPretrained();

        var error = Assert.Throws<CheckpointMismatchException>(() => plain.LoadCheckpoint(path));

        Assert.Equal(8, error.Problems.Count);
        Assert.All(error.Problems, p => Assert.Equal(CheckpointProblemKind.UnexpectedKey, p.Kind));
        Assert.Contains(error.Problems, p => p.Key == "backbone.layers.1.attn.v_proj.lora_B.weight");
    }

    [Fact]
    public void Injecting_LoRA_changes_neither_fingerprint_of_the_frozen_part()
    {
        var plain = folder.File("plain.safetensors");
        var adapted = folder.File("adapted.safetensors");
        using var model = new LoraClassifier();
        model.LoadPretrained();
        model.SaveCheckpoint(plain);

        Lora.Inject(model, path => path.Contains("attn", StringComparison.Ordinal), rank: 2, alpha: 4);
        model.SaveCheckpoint(adapted);

        foreach (var entry in new[] { "checkpointgen.content.backbone.", "checkpointgen.fingerprint.backbone." })
        {
            Assert.Equal(WeightFiles.Metadata(plain)[entry], WeightFiles.Metadata(adapted)[entry]);
        }
        Assert.Equal(2 + 2 * 8, WeightFiles.Keys(adapted).Count);
    }
}
