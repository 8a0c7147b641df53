using System.IO;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>A checkpoint records which pretrained weights it was trained against, when they came through LoadPretrained.</summary>
public sealed class ContentFingerprintTests : System.IDisposable
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

        Assert.Equal(["vae."], report.ContentFingerprintsChecked);
    }

    [Fact]
    public void Other_pretrained_weights_of_the_same_shape_are_refused_unless_allowed()
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

        var error = Assert.Throws<CheckpointMismatchException>(() => resumed.LoadCheckpoint(path));

        before.AssertUnchanged(resumed);
        var problem = Assert.Single(error.Problems);
        Assert.Equal(CheckpointProblemKind.FingerprintMismatch, problem.Kind);
        Assert.Equal("vae.", problem.Key);
        Assert.StartsWith("content-", problem.Expected);
        Assert.Empty(resumed.LoadCheckpoint(path, new CheckpointLoadOptions { VerifyPretrainedFingerprints = false }).ContentFingerprintsChecked);
    }

    [Fact]
    public void Without_LoadPretrained_only_the_structure_is_compared()
    {
        var path = folder.File("ckpt.safetensors");
        using (var model = new Captioner())
        {
            model.SaveCheckpoint(path);
        }
        Assert.False(WeightFiles.Metadata(path).ContainsKey("checkpointgen.content.vae."));
        using var resumed = new Captioner();

        var report = resumed.LoadCheckpoint(path);

        Assert.Equal(["vae."], report.FingerprintsChecked);
        Assert.Empty(report.ContentFingerprintsChecked);
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

        Assert.Equal(["text_encoder."], fromSafetensors.LoadCheckpoint(path).ContentFingerprintsChecked);
    }
}
