using System;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>LoadPretrained reads each source, checks every key, shape and dtype, and freezes; a bad source changes nothing.</summary>
public sealed class PretrainedLoadingTests
{
    public PretrainedLoadingTests()
    {
        // Each test writes the sources it needs; none may find one left by another test.
        foreach (var source in new[] { Captioner.Source, Decoder.Source, Pipeline.Source, TwoFromOneFile.Source })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(source)!);
            File.Delete(source);
        }
    }

    [Fact]
    public void Loads_a_safetensors_source_and_freezes()
    {
        manual_seed(1);
        using var pretrained = new Encoder();
        WeightFiles.WriteSafetensors(Captioner.Source, pretrained);
        manual_seed(2);
        using var model = new Captioner();
        foreach (var parameter in model.Vae.parameters())
        {
            parameter.requires_grad = true;
        }

        model.LoadPretrained();

        AssertSameState(pretrained, model.Vae);
        Assert.All(model.Vae.parameters(), p => Assert.False(p.requires_grad));
        Assert.False(model.Vae.training);
    }

    [Fact]
    public void Loads_a_TorchSharp_Module_save_source_of_a_checkpointable_child_through_its_parent()
    {
        manual_seed(3);
        using var vae = new Encoder();
        using var textEncoder = new Encoder(inputs: 8);
        WeightFiles.WriteSafetensors(Pipeline.Source, vae);
        WeightFiles.WriteTorchSharp(Decoder.Source, textEncoder);
        manual_seed(4);
        using var model = new Pipeline();

        model.LoadPretrained();

        AssertSameState(vae, model.Vae);
        AssertSameState(textEncoder, model.Decoder.TextEncoder);
    }

    [Fact]
    public void A_bad_source_of_a_checkpointable_child_leaves_the_parent_fields_unchanged()
    {
        using var vae = new Encoder();
        WeightFiles.WriteSafetensors(Pipeline.Source, vae);
        using var model = new Pipeline();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<FileNotFoundException>(model.LoadPretrained);

        Assert.Contains("Decoder.text_encoder", error.Message);
        before.AssertUnchanged(model);
    }

    [Fact]
    public void A_bad_source_of_one_child_leaves_every_other_child_unchanged()
    {
        using var textEncoder = new Encoder(inputs: 8);
        WeightFiles.WriteTorchSharp(Decoder.Source, textEncoder);
        using var model = new Ensemble();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<FileNotFoundException>(model.LoadPretrained);

        Assert.Contains("Captioner.vae", error.Message);
        before.AssertUnchanged(model);
        Assert.False(Tensors.BitIdentical(textEncoder.state_dict()["input.weight"], model.Decoder.TextEncoder.state_dict()["input.weight"]));
    }

    [Fact]
    public void Safetensors_source_whose_header_starts_with_whitespace_and_has_null_metadata_is_read()
    {
        manual_seed(6);
        using var pretrained = new Encoder();
        var plain = Path.GetTempFileName();
        WeightFiles.WriteSafetensors(plain, pretrained);
        var bytes = File.ReadAllBytes(plain);
        File.Delete(plain);
        var headerLength = (int)BitConverter.ToUInt64(bytes, 0);
        var header = System.Text.Encoding.UTF8.GetString(bytes, 8, headerLength).TrimEnd();
        Assert.StartsWith("{\"__metadata__\":{}", header);
        // As other writers may lay it out: whitespace first, metadata null.
        var rewritten = System.Text.Encoding.UTF8.GetBytes("  " + header.Replace("{\"__metadata__\":{}", "{\"__metadata__\":null"));
        File.WriteAllBytes(Captioner.Source, [.. BitConverter.GetBytes((ulong)rewritten.Length), .. rewritten, .. bytes[(8 + headerLength)..]]);
        using var model = new Captioner();

        model.LoadPretrained();

        AssertSameState(pretrained, model.Vae);
    }

    [Fact]
    public void KeyPrefix_takes_each_part_out_of_a_whole_model_file()
    {
        manual_seed(5);
        using var vision = new Encoder();
        using var text = new Encoder();
        using var head = nn.Linear(3, 3);
        WeightFiles.WriteSafetensors(TwoFromOneFile.Source,
            vision.state_dict().Select(e => KeyValuePair("model.vision." + e.Key, e.Value))
                .Concat(text.state_dict().Select(e => KeyValuePair("model.text." + e.Key, e.Value)))
                .Concat(head.state_dict().Select(e => KeyValuePair("model.head." + e.Key, e.Value))));
        using var model = new TwoFromOneFile();

        model.LoadPretrained();

        AssertSameState(vision, model.Vision);
        AssertSameState(text, model.Text);
    }

    [Fact]
    public void Missing_source_names_the_field_and_the_file()
    {
        using var model = new Captioner();

        var error = Assert.Throws<FileNotFoundException>(model.LoadPretrained);

        Assert.Contains("Captioner.vae", error.Message);
        Assert.Equal(Path.GetFullPath(Captioner.Source), error.FileName);
    }

    [Fact]
    public void Source_of_another_architecture_is_refused_naming_field_file_and_keys()
    {
        using var wider = new Encoder(hidden: 64);
        WeightFiles.WriteSafetensors(Captioner.Source, wider);
        using var model = new Captioner();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointMismatchException>(model.LoadPretrained);

        before.AssertUnchanged(model);
        Assert.Contains("Captioner.vae", error.Target);
        Assert.Contains(Path.GetFullPath(Captioner.Source), error.Message);
        Assert.Contains("shape mismatch for 'input.weight': model has Float32 [32, 16], file has Float32 [64, 16]", error.Message);
        Assert.All(error.Problems, p => Assert.Equal(CheckpointProblemKind.ShapeMismatch, p.Kind));
    }

    [Fact]
    public void Missing_and_unexpected_keys_in_a_source_are_each_named()
    {
        using var pretrained = new Encoder();
        WeightFiles.WriteSafetensors(Captioner.Source, pretrained.state_dict()
            .Where(e => e.Key != "norm.running_mean")
            .Append(KeyValuePair("norm.extra", ones(2))));
        using var model = new Captioner();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointMismatchException>(model.LoadPretrained);

        before.AssertUnchanged(model);
        Assert.Equal(["norm.running_mean"], error.MissingKeys);
        Assert.Equal(["norm.extra"], error.UnexpectedKeys);
    }

    [Fact]
    public void One_bad_part_leaves_every_part_unloaded()
    {
        using var vision = new Encoder();
        using var wrongText = new Encoder(outputs: 4);
        WeightFiles.WriteSafetensors(TwoFromOneFile.Source,
            vision.state_dict().Select(e => KeyValuePair("model.vision." + e.Key, e.Value))
                .Concat(wrongText.state_dict().Select(e => KeyValuePair("model.text." + e.Key, e.Value))));
        using var model = new TwoFromOneFile();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointMismatchException>(model.LoadPretrained);

        before.AssertUnchanged(model);
        Assert.Contains("TwoFromOneFile.text (keys under 'model.text.')", error.Message);
    }

    [Fact]
    public void Source_that_is_neither_format_is_refused()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Captioner.Source)!);
        File.WriteAllBytes(Captioner.Source, [0x93, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]);
        using var model = new Captioner();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

        before.AssertUnchanged(model);
        Assert.Contains(Path.GetFullPath(Captioner.Source), error.Message);
    }

    private static System.Collections.Generic.KeyValuePair<string, Tensor> KeyValuePair(string key, Tensor value) => new(key, value);

    private static void AssertSameState(nn.Module expected, nn.Module actual)
    {
        var left = expected.state_dict();
        var right = actual.state_dict();
        Assert.Equal(left.Keys.Order(), right.Keys.Order());
        Assert.All(left, e => Assert.True(Tensors.BitIdentical(e.Value, right[e.Key]), e.Key));
    }
}
