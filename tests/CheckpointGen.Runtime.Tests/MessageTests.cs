using System;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Every error names the cause and the next step, for the mistakes users make most.</summary>
public sealed class MessageTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public void A_whole_model_file_named_as_the_source_of_one_part_suggests_the_key_prefix()
    {
        using var weights = new Encoder();
        WeightFiles.WriteSafetensors(Captioner.Source, weights, prefix: "backbone.");
        using var model = new Captioner();

        var error = Assert.Throws<CheckpointMismatchException>(model.LoadPretrained);

        Assert.Contains("set KeyPrefix = \"backbone.\" on the [Pretrained] attribute", error.Message);
        Assert.Equal("The file holds every key of this part under 'backbone.': set KeyPrefix = \"backbone.\" on the [Pretrained] attribute.", error.Hint);
    }

    [Fact]
    public void A_PyTorch_zip_file_given_as_a_checkpoint_is_called_what_it_is()
    {
        using var model = new Captioner();

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(PyTorchCaptioner.Source));

        Assert.Contains("it is a zip archive, as PyTorch's torch.save writes", error.Message);
        Assert.Contains("name the file as the [Pretrained] member's source", error.Message);
        Assert.DoesNotContain("header length", error.Message);
    }

    [Fact]
    public void A_legacy_PyTorch_file_is_called_what_it_is_as_a_checkpoint_and_as_a_source()
    {
        // torch.save's legacy format starts with the pickled magic number 0x1950a86a20f9469cfc6c (protocol 2).
        byte[] legacy = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e, .. new byte[64]];
        var path = folder.File("legacy.pt");
        File.WriteAllBytes(path, legacy);
        Directory.CreateDirectory(Path.GetDirectoryName(Captioner.Source)!);
        File.WriteAllBytes(Captioner.Source, legacy);
        using var model = new Captioner();

        var asCheckpoint = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));
        var asSource = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

        Assert.Contains("a PyTorch file in the legacy format", asCheckpoint.Message);
        Assert.Contains("a PyTorch file in the legacy format", asSource.Message);
        Assert.Contains("torch.save(model.state_dict(), path)", asSource.Message);
        Assert.DoesNotContain("UTF-8", asSource.Message);
    }

    [Fact]
    public void Saving_below_a_file_names_the_file_in_the_way()
    {
        var file = folder.File("ckpt.safetensors");
        File.WriteAllText(file, "not a folder");
        using var model = new Captioner();

        var error = Assert.Throws<IOException>(() => model.SaveCheckpoint(Path.Combine(file, "step-1.safetensors")));

        Assert.Contains($"'{file}' is a file, not a folder", error.Message);
    }

    [Fact]
    public void Saving_to_a_folder_asks_for_a_file_name()
    {
        using var model = new Captioner();

        var error = Assert.Throws<IOException>(() => model.SaveCheckpoint(folder.Path));

        Assert.Contains("it is a folder. Name a checkpoint file", error.Message);
    }

    [Fact]
    public void Another_models_checkpoint_is_named_as_the_likely_cause()
    {
        var path = folder.File("captioner.safetensors");
        using (var captioner = new Captioner())
        {
            captioner.SaveCheckpoint(path);
        }
        using var model = new RenamedEncoder();

        var error = Assert.Throws<CheckpointMismatchException>(() => model.LoadCheckpoint(path));

        const string hint = "The file was saved from a 'CheckpointGen.Runtime.Tests.Models.Captioner', not a 'CheckpointGen.Runtime.Tests.Models.RenamedEncoder': is it the checkpoint of another model?";
        Assert.Equal(hint, error.Hint);
        Assert.Contains(hint, error.Message);
    }

    [Fact]
    public void A_checkpoint_of_the_same_model_type_gets_no_such_hint()
    {
        var path = folder.File("wide.safetensors");
        using (var wide = new Captioner(hidden: 64))
        {
            wide.SaveCheckpoint(path);
        }
        using var model = new Captioner();

        var error = Assert.Throws<CheckpointMismatchException>(() => model.LoadCheckpoint(path));

        Assert.Null(error.Hint);
        Assert.DoesNotContain("saved from", error.Message);
    }

    [Fact]
    public void A_missing_source_says_where_relative_sources_are_looked_for()
    {
        WeightFiles.Remove(Captioner.Source);
        using var model = new Captioner();

        var error = Assert.Throws<FileNotFoundException>(model.LoadPretrained);

        Assert.Contains("The pretrained weights file of CheckpointGen.Runtime.Tests.Models.Captioner.vae", error.Message);
        Assert.Contains($"current directory ('{Environment.CurrentDirectory}')", error.Message);
        Assert.Contains("PretrainedLoadOptions { BaseDirectory = ... }", error.Message);
    }
}
