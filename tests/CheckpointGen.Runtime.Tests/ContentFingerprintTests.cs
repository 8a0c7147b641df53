using System;
using System.IO;
using System.Linq;
using CheckpointGen.Parts;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>What a checkpoint leaves out is verified, never assumed: it records the pretrained weights it was trained against.</summary>
public sealed class ContentFingerprintTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static Captioner LoadedFrom(Encoder weights)
    {
        WeightFiles.WriteSafetensors(Captioner.Source, weights);
        var model = new Captioner();
        model.LoadPretrained();
        return model;
    }

    /// <summary>A model whose pretrained part was fingerprinted by a save to <paramref name="path"/> and a load from it.</summary>
    private static Captioner SavedAndLoaded(string path)
    {
        manual_seed(1);
        using var weights = new Encoder();
        var model = LoadedFrom(weights);
        model.SaveCheckpoint(path);
        model.LoadCheckpoint(path);
        return model;
    }

    private static void Change(Tensor tensor, double by)
    {
        using var noGrad = no_grad();
        tensor.add_(by);
    }

    /// <summary>Asserts that <paramref name="load"/> is refused for one problem, of <paramref name="kind"/>.</summary>
    private static CheckpointMismatchException RefusedWith(CheckpointProblemKind kind, Action load)
    {
        var error = Assert.Throws<CheckpointMismatchException>(load);
        Assert.Equal(kind, Assert.Single(error.Problems).Kind);
        return error;
    }

    [Fact]
    public void Same_pretrained_weights_are_recognised()
    {
        manual_seed(1);
        using var weights = new Encoder();
        var path = folder.File("ckpt.safetensors");
        using (var trained = LoadedFrom(weights))
        {
            trained.SaveCheckpoint(path);
        }
        Assert.StartsWith("content-xxh3-64:", WeightFiles.Metadata(path)["checkpointgen.content.vae."]);
        using var resumed = LoadedFrom(weights);

        var report = resumed.LoadCheckpoint(path);

        Assert.Equal(["vae."], report.FingerprintsChecked);
        Assert.Empty(report.FingerprintsNotChecked);
    }

    [Fact]
    public void Forgetting_LoadPretrained_on_the_resume_path_is_refused_and_named()
    {
        manual_seed(1);
        using var weights = new Encoder();
        var path = folder.File("ckpt.safetensors");
        using (var trained = LoadedFrom(weights))
        {
            trained.SaveCheckpoint(path);
        }
        using var resumed = new Captioner();
        using var before = new ModelSnapshot(resumed);

        var error = Assert.Throws<CheckpointMismatchException>(() => resumed.LoadCheckpoint(path));

        before.AssertUnchanged(resumed);
        var problem = Assert.Single(error.Problems);
        Assert.Equal(CheckpointProblemKind.PretrainedWeightsMismatch, problem.Kind);
        Assert.Equal("vae.", problem.Key);
        Assert.Contains("LoadPretrained() was not called", error.Message);
        Assert.Contains("VerifyPretrainedFingerprints = false", error.Message);
    }

    [Fact]
    public void Other_weights_from_the_source_are_refused_unless_allowed_and_the_report_says_not_checked()
    {
        manual_seed(1);
        using var weights = new Encoder();
        using var otherWeights = new Encoder();
        var path = folder.File("ckpt.safetensors");
        using (var trained = LoadedFrom(weights))
        {
            trained.SaveCheckpoint(path);
        }
        using var resumed = LoadedFrom(otherWeights);
        using var before = new ModelSnapshot(resumed);

        var error = RefusedWith(CheckpointProblemKind.PretrainedWeightsMismatch, () => resumed.LoadCheckpoint(path));

        before.AssertUnchanged(resumed);
        Assert.Contains("the source file changed", error.Message);
        var report = resumed.LoadCheckpoint(path, new CheckpointLoadOptions { VerifyPretrainedFingerprints = false });
        Assert.Empty(report.FingerprintsChecked);
        Assert.Equal(["vae."], report.FingerprintsNotChecked);
    }

    [Fact]
    public void Frozen_weights_put_in_by_hand_are_recorded_by_content()
    {
        var path = folder.File("ckpt.safetensors");
        using (var trained = new ReliabilityModel())
        {
            trained.SaveCheckpoint(path);
        }
        using var same = new ReliabilityModel();
        Assert.Equal(["encoder."], same.LoadCheckpoint(path).FingerprintsChecked);

        using var other = new ReliabilityModel();
        Change(other.state_dict()["encoder.0.weight"], 0.5);
        using var before = new ModelSnapshot(other);
        RefusedWith(CheckpointProblemKind.PretrainedWeightsMismatch, () => other.LoadCheckpoint(path));
        before.AssertUnchanged(other);
    }

    [Fact]
    public void Weights_changed_in_place_after_LoadPretrained_are_what_the_next_save_records()
    {
        manual_seed(1);
        using var weights = new Encoder();
        var path = folder.File("ckpt.safetensors");
        using (var drifted = LoadedFrom(weights))
        {
            drifted.SaveCheckpoint(folder.File("before.safetensors"));
            Change(drifted.Vae.state_dict()["output.bias"], 0.25);
            drifted.SaveCheckpoint(path);
        }
        Assert.NotEqual(WeightFiles.Metadata(folder.File("before.safetensors"))["checkpointgen.content.vae."], WeightFiles.Metadata(path)["checkpointgen.content.vae."]);
        using var original = LoadedFrom(weights);

        RefusedWith(CheckpointProblemKind.PretrainedWeightsMismatch, () => original.LoadCheckpoint(path));
    }

    [Fact]
    public void A_pretrained_parameter_that_requires_grad_refuses_the_save_and_keeps_the_previous_file()
    {
        manual_seed(1);
        using var weights = new Encoder();
        var path = folder.File("ckpt.safetensors");
        using var model = LoadedFrom(weights);
        model.SaveCheckpoint(path);
        var previous = File.ReadAllBytes(path);
        model.Vae.parameters().First().requires_grad = true;

        var error = Assert.Throws<InvalidOperationException>(() => model.SaveCheckpoint(path));

        Assert.Contains("'vae.input.weight' requires grad", error.Message);
        Assert.Equal(previous, File.ReadAllBytes(path));
        Assert.Equal(["ckpt.safetensors"], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void The_frozen_part_is_hashed_at_most_once_while_it_is_unchanged()
    {
        manual_seed(1);
        using var weights = new Encoder();
        using var model = LoadedFrom(weights);
        var path = folder.File("ckpt.safetensors");
        var hashed = PretrainedContent.HashesComputed;

        for (var i = 0; i < 3; i++)
        {
            model.SaveCheckpoint(path);
            model.LoadCheckpoint(path);
        }
        Assert.Equal(hashed, PretrainedContent.HashesComputed);

        Change(model.Vae.state_dict()["output.bias"], 1);
        model.SaveCheckpoint(path);
        model.SaveCheckpoint(path);
        Assert.Equal(hashed + 1, PretrainedContent.HashesComputed);
    }

    [Fact]
    public void A_part_with_adapters_is_hashed_at_most_once_while_its_frozen_weights_are_unchanged()
    {
        manual_seed(2);
        using (var encoder = new AdaptedEncoder())
        {
            WeightFiles.WriteSafetensors(AdaptedCaptioner.Source, encoder.state_dict().Where(e => !e.Key.StartsWith("adapter.", StringComparison.Ordinal)));
        }
        using var model = new AdaptedCaptioner();
        model.LoadPretrained();
        var path = folder.File("ckpt.safetensors");
        var hashed = PretrainedContent.HashesComputed;

        // The adapters train inside the part: what LoadPretrained recorded still stands for the frozen rest.
        for (var i = 0; i < 3; i++)
        {
            Change(model.Vae.Adapter.state_dict()["up.weight"], 1);
            model.SaveCheckpoint(path);
            var report = model.LoadCheckpoint(path);
            Assert.Equal(["vae."], report.ContentFingerprintsChecked);
        }
        Assert.Equal(hashed, PretrainedContent.HashesComputed);

        Change(model.Vae.Norm.state_dict()["running_mean"], 1);
        model.SaveCheckpoint(path);
        model.LoadCheckpoint(path);
        Assert.Equal(hashed + 1, PretrainedContent.HashesComputed);
    }

    [Fact]
    public void A_frozen_tensor_given_other_memory_and_shape_in_place_is_refused_by_structure()
    {
        var path = folder.File("ckpt.safetensors");
        using var model = SavedAndLoaded(path);

        // The same tensor object as when the part was hashed: only its version counter tells.
        using (no_grad())
        {
            model.Vae.state_dict()["output.weight"].set_(zeros(4, 32));
        }

        RefusedWith(CheckpointProblemKind.FingerprintMismatch, () => model.LoadCheckpoint(path));
    }

    [Fact]
    public void A_frozen_weight_written_in_place_since_the_save_is_refused_by_content_at_load()
    {
        var path = folder.File("ckpt.safetensors");
        using var model = SavedAndLoaded(path);

        // Same objects, same layout: only the probe can tell.
        Change(model.Vae.state_dict()["output.weight"], 0.5);

        RefusedWith(CheckpointProblemKind.PretrainedWeightsMismatch, () => model.LoadCheckpoint(path));
    }

    [Fact]
    public void A_load_probes_each_part_once_whether_or_not_it_was_written_since()
    {
        var path = folder.File("ckpt.safetensors");
        using var model = SavedAndLoaded(path);

        var before = PretrainedContent.ProbesRun;
        model.LoadCheckpoint(path);
        Assert.Equal(before + 1, PretrainedContent.ProbesRun);

        // Written since: the probe fails, and the part is hashed anew rather than probed again.
        Change(model.Vae.state_dict()["output.weight"], 0.5);
        before = PretrainedContent.ProbesRun;
        Assert.Throws<CheckpointMismatchException>(() => model.LoadCheckpoint(path));
        Assert.Equal(before + 1, PretrainedContent.ProbesRun);
    }

    [Fact]
    public void A_frozen_parameter_replaced_by_another_object_is_refused_by_content()
    {
        var path = folder.File("ckpt.safetensors");
        using var model = SavedAndLoaded(path);

        var output = (Linear)model.Vae.named_modules().Single(m => m.name == "output").module;
        output.weight = new Parameter(randn(8, 32), requires_grad: false);

        RefusedWith(CheckpointProblemKind.PretrainedWeightsMismatch, () => model.LoadCheckpoint(path));
    }

    [Fact]
    public void A_file_that_records_the_structure_only_leaves_the_part_not_checked()
    {
        var path = folder.File("ckpt.safetensors");
        using (var model = new Captioner())
        {
            model.SaveCheckpoint(path);
        }
        WeightFiles.EditMetadata(path, metadata => metadata.Remove("checkpointgen.content.vae."));
        using var resumed = new Captioner();

        var report = resumed.LoadCheckpoint(path);

        Assert.Empty(report.FingerprintsChecked);
        Assert.Equal(["vae."], report.FingerprintsNotChecked);
    }

    [Fact]
    public void The_fingerprint_depends_on_the_weights_not_on_the_file_format()
    {
        manual_seed(2);
        using var textEncoder = new Encoder(inputs: 8);
        WeightFiles.WriteTorchSharp(Decoder.Source, textEncoder);
        using var fromTorchSharpFormat = new Decoder();
        fromTorchSharpFormat.LoadPretrained();
        var path = folder.File("decoder.safetensors");
        fromTorchSharpFormat.SaveCheckpoint(path);

        var safetensorsSource = folder.File("text-encoder.safetensors");
        WeightFiles.WriteSafetensors(safetensorsSource, textEncoder);
        File.Copy(safetensorsSource, Decoder.Source, overwrite: true);
        using var fromSafetensors = new Decoder();
        fromSafetensors.LoadPretrained();

        Assert.Equal(["text_encoder."], fromSafetensors.LoadCheckpoint(path).FingerprintsChecked);
    }
}
