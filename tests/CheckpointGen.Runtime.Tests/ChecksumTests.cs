using System;
using System.Buffers.Binary;
using System.IO;
using CheckpointGen.Reliability;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Damaged data of the right length is refused before it reaches the model.</summary>
public sealed class ChecksumTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly string path;
    private readonly int dataStart;

    public ChecksumTests()
    {
        path = folder.File("model.safetensors");
        using var saved = new ReliabilityModel();
        saved.Fill(3);
        saved.SaveCheckpoint(path);
        dataStart = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(path));
    }

    public void Dispose() => folder.Dispose();

    [Fact]
    public void An_intact_checkpoint_is_verified()
    {
        using var model = new ReliabilityModel();

        Assert.True(model.LoadCheckpoint(path).ChecksumVerified);
        Assert.StartsWith("xxh3-64:", WeightFiles.Metadata(path)["checkpointgen.checksum"]);
    }

    [Theory]
    [InlineData("zeroed")]
    [InlineData("one byte changed")]
    [InlineData("last byte changed")]
    public void Altered_data_is_refused_and_the_model_unchanged(string damage)
    {
        var bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "zeroed": Array.Clear(bytes, dataStart, bytes.Length - dataStart); break;
            case "one byte changed": bytes[dataStart + 5] ^= 0x40; break;
            default: bytes[^1] ^= 0x01; break;
        }
        File.WriteAllBytes(path, bytes);
        using var model = new ReliabilityModel();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        Assert.Contains("does not match the checksum recorded at save", error.Message);
        before.AssertUnchanged(model);
    }

    [Fact]
    public void Verification_can_be_turned_off()
    {
        var bytes = File.ReadAllBytes(path);
        bytes[dataStart + 5] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        using var model = new ReliabilityModel();

        var report = model.LoadCheckpoint(path, new CheckpointLoadOptions { VerifyChecksum = false });

        Assert.False(report.ChecksumVerified);
        Assert.Null(model.Version());
    }

    [Fact]
    public void A_malformed_checksum_entry_is_refused()
    {
        var text = File.ReadAllBytes(path);
        var header = System.Text.Encoding.UTF8.GetString(text, 8, dataStart - 8);
        var marker = "\"checkpointgen.checksum\":\"xxh3-64:";
        var at = header.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        text[8 + at] = (byte)'Z';
        File.WriteAllBytes(path, text);
        using var model = new ReliabilityModel();

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        Assert.Contains("not xxh3-64: and 16 lowercase hex digits", error.Message);
    }

    [Fact]
    public void Swapping_the_offsets_of_two_tensors_of_one_size_is_refused()
    {
        using (var distinct = new ReliabilityModel())
        {
            using var noGrad = TorchSharp.torch.no_grad();
            distinct.TrainableStateDict()["head.bias"].fill_(1);
            distinct.TrainableStateDict()["norm.bias"].fill_(2);
            distinct.SaveCheckpoint(path);
        }
        SwapOffsets("head.bias", "norm.bias");
        using var model = new ReliabilityModel();
        using var before = new ModelSnapshot(model);

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        Assert.Contains("does not match the checksum recorded at save", error.Message);
        before.AssertUnchanged(model);
    }

    [Fact]
    public void A_file_of_the_first_layout_whose_checksum_covers_the_data_only_still_loads()
    {
        var bytes = File.ReadAllBytes(path);
        var data = new System.IO.Hashing.XxHash3();
        data.Append(bytes.AsSpan(dataStart));
        var checksum = "xxh3-64:" + data.GetCurrentHashAsUInt64().ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        WeightFiles.EditMetadata(path, metadata =>
        {
            metadata.Remove("checkpointgen.format-version");
            metadata["checkpointgen.checksum"] = checksum;
        });
        using var model = new ReliabilityModel();

        Assert.True(model.LoadCheckpoint(path).ChecksumVerified);
        Assert.Equal(3, model.Version());
    }

    [Fact]
    public void A_layout_newer_than_this_version_is_refused_with_the_way_out()
    {
        WeightFiles.EditMetadata(path, metadata => metadata["checkpointgen.format-version"] = "3");
        using var model = new ReliabilityModel();

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        Assert.Contains("update the package", error.Message);
    }

    /// <summary>Exchanges the data offsets of two tensor entries in the header, leaving the data and the checksum as they are.</summary>
    private void SwapOffsets(string first, string second)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = System.Text.Json.Nodes.JsonNode.Parse(bytes.AsSpan(8, length))!.AsObject();
        var offsets = header[first]!["data_offsets"]!.ToJsonString();
        header[first]!["data_offsets"] = System.Text.Json.Nodes.JsonNode.Parse(header[second]!["data_offsets"]!.ToJsonString());
        header[second]!["data_offsets"] = System.Text.Json.Nodes.JsonNode.Parse(offsets);
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        Array.Resize(ref json, length);
        json.AsSpan(json.Length - (length - System.Text.Encoding.UTF8.GetByteCount(header.ToJsonString()))).Fill((byte)' ');
        File.WriteAllBytes(path, [.. bytes[..8], .. json, .. bytes[(8 + length)..]]);
    }
}
