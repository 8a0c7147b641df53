using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Every file that does not fit is refused with each offending key named, and the model stays exactly as it was.</summary>
public sealed class CheckpointRejectionTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly Captioner model;
    private readonly ModelSnapshot before;
    private readonly Dictionary<string, string> metadata;

    public CheckpointRejectionTests()
    {
        manual_seed(21);
        model = new Captioner();
        var valid = folder.File("valid.safetensors");
        using (var other = new Captioner())
        {
            other.SaveCheckpoint(valid);
        }
        metadata = WeightFiles.Metadata(valid).ToDictionary();
        before = new ModelSnapshot(model);
    }

    public void Dispose()
    {
        before.Dispose();
        model.Dispose();
        folder.Dispose();
    }

    private string Craft(params (string Key, Tensor Tensor)[] tensors)
    {
        var path = folder.File($"crafted-{Guid.NewGuid():N}.safetensors");
        WeightFiles.WriteSafetensors(path, tensors.Select(t => KeyValuePair.Create(t.Key, t.Tensor)), metadata);
        return path;
    }

    private CheckpointMismatchException Refused(string path, CheckpointLoadOptions? options = null)
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => model.LoadCheckpoint(path, options));
        before.AssertUnchanged(model);
        Assert.Contains(path, error.Message);
        return error;
    }

    [Fact]
    public void Missing_trainable_key_is_named()
    {
        var error = Refused(Craft(("head.weight", randn(4, 8))));

        Assert.Equal(["head.bias"], error.MissingKeys);
        Assert.Contains("missing key 'head.bias' (model has Float32 [4])", error.Message);
    }

    [Fact]
    public void Key_the_model_does_not_have_is_named()
    {
        var error = Refused(Craft(("head.weight", randn(4, 8)), ("head.bias", randn(4)), ("head.scale", randn(4))));

        Assert.Equal(["head.scale"], error.UnexpectedKeys);
    }

    [Fact]
    public void Shape_mismatch_is_refused_where_TorchSharp_would_broadcast()
    {
        var error = Refused(Craft(("head.weight", ones(1)), ("head.bias", randn(4))));

        var problem = Assert.Single(error.Problems);
        Assert.Equal(CheckpointProblemKind.ShapeMismatch, problem.Kind);
        Assert.Contains("shape mismatch for 'head.weight': model has Float32 [4, 8], file has Float32 [1]", error.Message);
    }

    [Fact]
    public void Dtype_mismatch_is_refused()
    {
        var error = Refused(Craft(("head.weight", randn(4, 8, dtype: float64)), ("head.bias", randn(4))));

        Assert.Contains("dtype mismatch for 'head.weight': model has Float32 [4, 8], file has Float64 [4, 8]", error.Message);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var error = Refused(Craft(("head.weight", ones(1)), ("decoder.weight", ones(2))));

        Assert.Equal(
            [CheckpointProblemKind.MissingKey, CheckpointProblemKind.UnexpectedKey, CheckpointProblemKind.ShapeMismatch],
            error.Problems.Select(p => p.Kind));
    }

    [Fact]
    public void Checkpoint_trained_against_another_pretrained_part_is_refused_unless_allowed()
    {
        var path = folder.File("wider-vae.safetensors");
        using (var wider = new Captioner(hidden: 64))
        {
            wider.SaveCheckpoint(path);
        }

        var error = Refused(path);
        Assert.Equal(CheckpointProblemKind.FingerprintMismatch, Assert.Single(error.Problems).Kind);
        Assert.Contains("pretrained part 'vae.'", error.Message);

        var report = model.LoadCheckpoint(path, new CheckpointLoadOptions { VerifyPretrainedFingerprints = false });
        Assert.Equal(["vae."], report.FingerprintsNotChecked);
    }

    [Fact]
    public void Full_checkpoint_without_metadata_is_accepted_and_its_pretrained_keys_skipped()
    {
        var path = folder.File("full.safetensors");
        using var trained = new Captioner();
        using (no_grad())
        {
            trained.Vae.state_dict()["input.weight"].add_(1);
        }
        WeightFiles.WriteSafetensors(path, trained.state_dict());

        var report = model.LoadCheckpoint(path);

        Assert.Equal(trained.Vae.state_dict().Keys.Select(k => "vae." + k).Order(), report.SkippedPretrainedKeys.Order());
        Assert.Equal(["vae."], report.FingerprintsNotChecked);
        Assert.Null(report.SavedModelType);
        Assert.True(Tensors.BitIdentical(trained.Head.weight!, model.Head.weight!));
        Assert.True(Tensors.BitIdentical(trained.Head.bias!, model.Head.bias!));
        // The pretrained keys were skipped: the model keeps its own encoder.
        Assert.False(Tensors.BitIdentical(trained.state_dict()["vae.input.weight"], model.state_dict()["vae.input.weight"]));
    }

    [Fact]
    public void Pretrained_keys_are_unexpected_when_the_options_refuse_them()
    {
        var path = folder.File("full.safetensors");
        WeightFiles.WriteSafetensors(path, model.state_dict());

        var error = Refused(path, new CheckpointLoadOptions { SkipPretrainedKeys = false });

        Assert.Contains("vae.norm.running_mean", error.UnexpectedKeys);
        Assert.Empty(error.MissingKeys);
    }

    public static TheoryData<string, byte[]> BrokenFiles()
    {
        var header = "{\"head.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,128]},\"head.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[128,144]}}"u8.ToArray();
        byte[] File(byte[] json, int dataBytes, long? declaredLength = null)
            => [.. BitConverter.GetBytes(declaredLength ?? json.Length), .. json, .. new byte[dataBytes]];
        return new()
        {
            { "shorter than the 8-byte header length", [] },
            { "shorter than the 8-byte header length", [1, 2, 3] },
            { "more than the 100000000-byte limit", File(header, 144, declaredLength: long.MaxValue) },
            { "only 9 bytes follow it", File("{}"u8.ToArray(), 7, declaredLength: 1000) },
            { "not valid UTF-8 JSON", File("{\"head.weight\": nope}"u8.ToArray(), 0) },
            { "not valid UTF-8 JSON", File([(byte)'{', (byte)'"', 0xff, 0xfe, (byte)'"', (byte)':', (byte)'1', (byte)'}'], 0) },
            { "not an object", File("[1,2]"u8.ToArray(), 0) },
            { "unknown dtype 'F7'", File("{\"head.weight\":{\"dtype\":\"F7\",\"shape\":[4,8],\"data_offsets\":[0,128]}}"u8.ToArray(), 128) },
            { "needs 128 bytes, but data_offsets [0, 100] hold 100", File("{\"head.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,100]}}"u8.ToArray(), 100) },
            { "it is truncated", File(header, 100) },
            { "bytes follow the last tensor", File(header, 150) },
            { "names 'head.weight' twice", File("{\"head.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"head.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"u8.ToArray(), 8) },
            { "overlaps the tensor before it", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}"u8.ToArray(), 12) },
            { "leaves a gap", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"u8.ToArray(), 8) },
            { "overflows a 64-bit byte count", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}"u8.ToArray(), 8) },
            { "the entry needs 'dtype', 'shape' and 'data_offsets'", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}"u8.ToArray(), 0) },
            { "'shape' is not an array of at most 64 non-negative integers", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}"u8.ToArray(), 4) },
            { "'shape' is not an array of at most 64 non-negative integers", File("{\"a\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,16]}}"u8.ToArray(), 16) },
            { "'data_offsets' is not a pair of non-negative integers", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}"u8.ToArray(), 8) },
            { "'dtype' is repeated or of the wrong JSON type", File("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}"u8.ToArray(), 4) },
            { "its entry is a JSON Array, not an object", File("{\"a\":[1]}"u8.ToArray(), 0) },
            { "'__metadata__' is a JSON Array", File("{\"__metadata__\":[]}"u8.ToArray(), 0) },
            { "'__metadata__.step' is a JSON Number, not a string", File("{\"__metadata__\":{\"step\":3}}"u8.ToArray(), 0) },
            { "end before they begin", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}"u8.ToArray(), 4) },
            { "the tensors need 1024 data bytes, but the file holds 4", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[256],\"data_offsets\":[0,1024]}}"u8.ToArray(), 4) },
            { "not valid Unicode", File("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8.ToArray(), 4) },
            { "not valid Unicode", File("{\"__metadata__\":{\"a\":\"\\udc00\"}}"u8.ToArray(), 0) },
            { "'shape' is not an array of at most 64 non-negative integers", File(System.Text.Encoding.UTF8.GetBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + string.Join(",", Enumerable.Repeat("1", 65)) + "],\"data_offsets\":[0,4]}}"), 4) },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void File_that_is_not_a_valid_checkpoint_is_refused_saying_why(string expected, byte[] content)
    {
        var path = folder.File("broken.safetensors");
        File.WriteAllBytes(path, content);

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        before.AssertUnchanged(model);
        Assert.Contains(expected, error.Message);
        Assert.Contains(path, error.Message);
    }

    [Theory]
    [InlineData("checkpointgen.checksum", "it lacks 'checkpointgen.checksum'")]
    [InlineData("checkpointgen.fingerprint.vae.", "it lacks 'checkpointgen.fingerprint.vae.'")]
    [InlineData("checkpointgen.excluded", "'checkpointgen.excluded' is missing")]
    public void A_CheckpointGen_file_whose_header_lost_an_entry_is_refused(string key, string expected)
    {
        var path = folder.File("damaged.safetensors");
        using (var other = new Captioner())
        {
            other.SaveCheckpoint(path);
        }
        var bytes = File.ReadAllBytes(path);
        var at = System.Text.Encoding.UTF8.GetString(bytes).IndexOf($"\"{key}\"", StringComparison.Ordinal);
        bytes[at + 1] = (byte)'X';
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        before.AssertUnchanged(model);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        var path = folder.File("nowhere.safetensors");

        var error = Assert.Throws<FileNotFoundException>(() => model.LoadCheckpoint(path));

        Assert.Equal(path, error.FileName);
        Assert.Contains(path, error.Message);
    }
}
