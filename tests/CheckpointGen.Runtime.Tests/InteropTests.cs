using System.IO;
using System.Linq;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Weights from where users have them, and checkpoints other tools read.</summary>
public sealed class InteropTests
{
    [Fact]
    public void A_state_dict_written_by_PyTorch_loads_and_computes_what_PyTorch_computed()
    {
        using var model = new PyTorchCaptioner();

        model.LoadPretrained();

        var io = PyTorchUnpickler.UnpickleStateDict("PyTorch/encoder-io.pt");
        using var input = (Tensor)io["input"]!;
        using var expected = (Tensor)io["output"]!;
        using var actual = model.Encoder.forward(input);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6), $"max difference {Tensors.MaxAbsDifference(actual, expected)}");
        Assert.Equal(3L, model.Encoder.Norm.num_batches_tracked!.item<long>());
        Assert.All(model.Encoder.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void A_zip_that_is_not_a_state_dict_is_refused_as_a_format_error()
    {
        Directory.CreateDirectory("test-weights");
        var path = Path.GetFullPath("test-weights/not-a-state-dict.pt");
        using (var zip = new System.IO.Compression.ZipArchive(File.Create(path), System.IO.Compression.ZipArchiveMode.Create))
        {
            using var entry = new StreamWriter(zip.CreateEntry("readme.txt").Open());
            entry.Write("no pickle here");
        }

        var error = Assert.Throws<CheckpointFormatException>(() => Format.WeightSource.Open(path, p => File.OpenRead(p)));

        Assert.Contains("not a PyTorch state dict", error.Message);
    }

    [Fact]
    public void A_training_checkpoint_saved_by_PyTorch_says_where_its_weights_are()
    {
        var error = Assert.Throws<CheckpointFormatException>(() => Format.WeightSource.Open("PyTorch/nested-training-checkpoint.pt", p => File.OpenRead(p)));

        Assert.Contains("holds no tensors at its top level, only 'model', 'epoch'", error.Message.Replace("'epoch', 'model'", "'model', 'epoch'"));
        Assert.Contains("torch.save(model.state_dict(), path)", error.Message);
    }

    [Fact]
    public void A_sharded_checkpoint_loads_through_its_index()
    {
        manual_seed(3);
        using var weights = new Encoder();
        var folder = Path.GetDirectoryName(ShardedCaptioner.Source)!;
        Directory.CreateDirectory(folder);
        var state = weights.state_dict().ToList();
        var first = state.Take(4).ToList();
        var second = state.Skip(4).ToList();
        WeightFiles.WriteSafetensors(Path.Combine(folder, "model-00001-of-00002.safetensors"), first.Select(e => KeyValuePair("encoder." + e.Key, e.Value)));
        WeightFiles.WriteSafetensors(Path.Combine(folder, "model-00002-of-00002.safetensors"), second.Select(e => KeyValuePair("encoder." + e.Key, e.Value)));
        var map = first.Select(e => $"\"encoder.{e.Key}\": \"model-00001-of-00002.safetensors\"")
            .Concat(second.Select(e => $"\"encoder.{e.Key}\": \"model-00002-of-00002.safetensors\""));
        File.WriteAllText(ShardedCaptioner.Source, $"{{\"metadata\": {{\"total_size\": 0}}, \"weight_map\": {{{string.Join(", ", map)}}}}}");
        using var model = new ShardedCaptioner();

        model.LoadPretrained();

        Assert.All(weights.state_dict(), e => Assert.True(Tensors.BitIdentical(e.Value, model.Encoder.state_dict()[e.Key]), e.Key));
    }

    [Fact]
    public void A_sharded_index_never_leads_outside_its_folder()
    {
        var folder = Path.GetDirectoryName(ShardedCaptioner.Source)!;
        Directory.CreateDirectory(folder);
        File.WriteAllText(ShardedCaptioner.Source, "{\"weight_map\": {\"encoder.input.weight\": \"../../secret.safetensors\"}}");
        using var model = new ShardedCaptioner();

        var error = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

        Assert.Contains("'../../secret.safetensors', which is not a file name in the index's folder", error.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": {\"encoder.input.weight\": \"a.safetensors\", \"encoder.input.weight\": \"b.safetensors\"}}", "is mapped twice")]
    [InlineData("{\"weight_map\": {\"encoder.input.weight\": null}}", "is not a string")]
    [InlineData("[1, 2]", "not a sharded checkpoint index")]
    public void A_malformed_sharded_index_is_a_format_error(string index, string expected)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ShardedCaptioner.Source)!);
        File.WriteAllText(ShardedCaptioner.Source, index);
        using var model = new ShardedCaptioner();

        var error = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Relative_sources_resolve_against_the_base_directory_of_the_options_or_the_obsolete_global(bool throughOptions)
    {
        using var folder = new TempFolder();
        manual_seed(4);
        using var weights = new Encoder();
        WeightFiles.WriteSafetensors(Path.Combine(folder.Path, Captioner.Source), weights);
        WeightFiles.Remove(Captioner.Source);
        using var model = new Captioner();

        if (throughOptions)
        {
            model.LoadPretrained(new PretrainedLoadOptions { BaseDirectory = folder.Path });
        }
        else
        {
#pragma warning disable CS0618 // The compatibility path under test.
            CheckpointPolicy.PretrainedBaseDirectory = folder.Path;
            try
            {
                model.LoadPretrained();
            }
            finally
            {
                CheckpointPolicy.PretrainedBaseDirectory = null;
            }
#pragma warning restore CS0618
        }

        Assert.True(Tensors.BitIdentical(weights.state_dict()["input.weight"], model.Vae.state_dict()["input.weight"]));
        Assert.DoesNotContain(model.Vae.parameters(), p => p.requires_grad);
    }

    [Fact]
    public void PyBridge_reads_our_checkpoints()
    {
        using var folder = new TempFolder();
        var path = folder.File("ckpt.safetensors");
        manual_seed(5);
        using var model = new Captioner();
        model.SaveCheckpoint(path);

        var state = Safetensors.LoadStateDict(path);
        using var other = new Captioner();
        other.load_safetensors(path, strict: false);

        Assert.Equal(["head.bias", "head.weight"], state.Keys.Order());
        Assert.True(Tensors.BitIdentical(model.Head.weight!, state["head.weight"]));
        Assert.True(Tensors.BitIdentical(model.Head.weight!, other.Head.weight!));
    }

    private static System.Collections.Generic.KeyValuePair<string, Tensor> KeyValuePair(string key, Tensor value) => new(key, value);
}
