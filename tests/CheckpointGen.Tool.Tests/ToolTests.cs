using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using CheckpointGen.Testing;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Tool.Tests;

/// <summary>
/// The checkpointgen command on real checkpoints, run as a user's script runs it: a process with its output piped,
/// asserted on what it prints and on its exit code (0 intact / the same, 1 damaged / different, 2 unreadable or usage).
/// </summary>
public sealed class ToolTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("checkpointgen-tool-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>A real checkpoint of a model with a frozen encoder, written by the library; the head depends on the seed only.</summary>
    private string Checkpoint(string name, int seed, string modelType = "Demo", int encoderWidth = 4)
    {
        manual_seed(seed);
        using var head = nn.Linear(4, 2);
        using var encoder = nn.Linear(4, encoderWidth);
        using var model = nn.Sequential(("encoder", encoder), ("head", head));
        var path = Path.Combine(folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var policy = new CheckpointPolicy(model, modelType, new PretrainedField("encoder", encoder));
        policy.FreezePretrained();
        policy.SaveCheckpoint(path);
        return path;
    }

    /// <summary>A copy of <paramref name="path"/> with one bit of its last tensor's data flipped.</summary>
    private string Damaged(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x10;
        var damaged = Path.Combine(folder, "damaged-" + Path.GetFileName(path));
        File.WriteAllBytes(damaged, bytes);
        return damaged;
    }

    /// <summary>A safetensors file as another tool writes it: no CheckpointGen metadata, no checksum.</summary>
    private string PlainSafetensors()
    {
        var header = Encoding.UTF8.GetBytes("""{"weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""");
        var path = Path.Combine(folder, "plain.safetensors");
        using var file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)header.Length));
        file.Write(header);
        file.Write(BitConverter.GetBytes(1.5f));
        file.Write(BitConverter.GetBytes(-2f));
        return path;
    }

    [Fact]
    public void Inspect_shows_tensors_model_excluded_parts_and_checksum_as_plain_lines()
    {
        var (exit, output) = Tool("inspect", Checkpoint("a.safetensors", 1));

        Assert.Equal(0, exit);
        Assert.Contains("model: Demo, written by CheckpointGen 0.1.0 (checkpoint layout 2)", output);
        Assert.Matches(@"excluded pretrained part 'encoder\.': structure structure-sha256:[0-9a-f]{64}, weights content-xxh3-64:[0-9a-f]{16}\n", output);
        Assert.Matches(@"head\.weight +Float32 +\[2, 4\] +32\n", output);
        Assert.DoesNotContain("encoder.weight", output);
        Assert.Matches(@"checksum: xxh3-64:[0-9a-f]{16}, verified\n", output);
        AssertPlain(output);
    }

    [Fact]
    public void Inspect_shows_the_step_and_metrics_a_CheckpointManager_recorded()
    {
        var path = Checkpoint("step-1200.safetensors", 1);
        EditMetadata(path, metadata =>
        {
            metadata["checkpointgen.step"] = "1200";
            metadata["checkpointgen.metrics"] = "{\"val_loss\":0.231,\"accuracy\":\"NaN\"}";
        });

        var (exit, output) = Tool("inspect", path);
        var (_, json) = Tool("inspect", "--json", path);

        Assert.Equal(0, exit);
        Assert.Contains("saved by a CheckpointManager at step 1200, metrics: val_loss = 0.231, accuracy = NaN\n", output);
        Assert.DoesNotContain("metadata 'checkpointgen.step'", output);
        using var document = JsonDocument.Parse(json);
        Assert.Equal(1200, document.RootElement.GetProperty("step").GetInt64());
        Assert.Equal("0.231", document.RootElement.GetProperty("metrics").GetProperty("val_loss").GetString());
    }

    /// <summary>Rewrites a checkpoint's metadata, keeping its tensors and their bytes (the checksum covers those only).</summary>
    private static void EditMetadata(string path, Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        var header = System.Text.Json.Nodes.JsonNode.Parse(bytes.AsSpan(8, length))!.AsObject();
        edit(header["__metadata__"]!.AsObject());
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. bytes[(8 + length)..]]);
    }

    [Fact]
    public void Piped_output_is_never_wrapped_however_long_a_line()
    {
        // A path of more than 400 characters: no terminal width, assumed or set in COLUMNS, may split it.
        var deep = Path.Combine(Enumerable.Repeat("a-folder-with-a-long-name-for-wrapping", 12).ToArray());
        var path = Checkpoint(Path.Combine(deep, "a.safetensors"), 1);
        Assert.True(path.Length > 400);

        var (exit, output) = Tool("inspect", path);
        Assert.Equal(0, exit);
        Assert.Equal(path, output.Split('\n')[0]);

        (exit, output) = Tool("diff", path, Checkpoint("b.safetensors", 2));
        Assert.Equal(1, exit);
        Assert.Contains($"a: {path}\n", output);
    }

    [Fact]
    public void Inspect_of_a_damaged_file_says_so_without_markup_and_exits_1()
    {
        var (exit, output) = Tool("inspect", Damaged(Checkpoint("a.safetensors", 1)));

        Assert.Equal(1, exit);
        Assert.Matches(@"checksum: xxh3-64:[0-9a-f]{16}, DOES NOT MATCH the data \(read xxh3-64:[0-9a-f]{16}\): the file is damaged\. Restore it from a copy or use an earlier checkpoint\.", output);
        AssertPlain(output);
    }

    [Fact]
    public void A_plain_safetensors_file_is_shown_as_not_written_by_CheckpointGen_and_cannot_be_verified()
    {
        var path = PlainSafetensors();

        var (exit, output) = Tool("inspect", path);

        Assert.Equal(0, exit);
        Assert.Contains("not written by CheckpointGen (its metadata has no 'checkpointgen.version')", output);
        Assert.DoesNotContain("(not CheckpointGen)", output);
        Assert.DoesNotContain("model:", output);
        Assert.Matches(@"weight +Float32 +\[2\] +8\n", output);
        Assert.Contains("checksum: not recorded, so the data cannot be verified", output);

        (exit, output) = Tool("verify", path);
        Assert.Equal(0, exit);
        Assert.Contains("the file records no checksum, so its data cannot be verified", output);
    }

    [Fact]
    public void Inspect_json_holds_the_whole_report_for_scripts()
    {
        var path = Checkpoint("a.safetensors", 1);

        var (exit, output) = Tool("inspect", "--json", path);

        Assert.Equal(0, exit);
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Equal(path, report.GetProperty("file").GetString());
        Assert.Equal("intact", report.GetProperty("status").GetString());
        Assert.Equal("Demo", report.GetProperty("model").GetString());
        Assert.Equal("0.1.0", report.GetProperty("checkpointGenVersion").GetString());
        var excluded = Assert.Single(report.GetProperty("excluded").EnumerateArray());
        Assert.Equal("encoder.", excluded.GetProperty("prefix").GetString());
        Assert.Equal(report.GetProperty("metadata").GetProperty("checkpointgen.fingerprint.encoder.").GetString(), excluded.GetProperty("structure").GetString());
        Assert.Equal(report.GetProperty("metadata").GetProperty("checkpointgen.content.encoder.").GetString(), excluded.GetProperty("weights").GetString());
        Assert.Equal(["head.bias", "head.weight"], report.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("key").GetString()));
        var weight = report.GetProperty("tensors")[1];
        Assert.Equal("Float32", weight.GetProperty("dtype").GetString());
        Assert.Equal([2L, 4L], weight.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(32, weight.GetProperty("bytes").GetInt64());
        Assert.Equal(2, report.GetProperty("tensorCount").GetInt32());
        Assert.Equal(40, report.GetProperty("tensorBytes").GetInt64());
        Assert.Equal(report.GetProperty("recordedChecksum").GetString(), report.GetProperty("actualChecksum").GetString());

        (exit, output) = Tool("inspect", "--json", Damaged(path));
        Assert.Equal(1, exit);
        report = JsonDocument.Parse(output).RootElement;
        Assert.Equal("damaged", report.GetProperty("status").GetString());
        Assert.NotEqual(report.GetProperty("recordedChecksum").GetString(), report.GetProperty("actualChecksum").GetString());

        (exit, output) = Tool("inspect", "--json", PlainSafetensors());
        Assert.Equal(0, exit);
        report = JsonDocument.Parse(output).RootElement;
        Assert.Equal("unverified", report.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, report.GetProperty("checkpointGenVersion").ValueKind);
    }

    [Fact]
    public void Verify_passes_an_intact_file_and_fails_a_damaged_one_with_the_library_message()
    {
        var path = Checkpoint("a.safetensors", 1);
        Assert.Equal(0, Tool("verify", path).Exit);

        var (exit, output) = Tool("verify", Damaged(path));

        Assert.Equal(1, exit);
        Assert.Contains("does not match the checksum recorded at save", output);
        AssertPlain(output);
    }

    [Fact]
    public void A_file_that_is_not_a_checkpoint_gives_the_library_error_and_exit_code_2()
    {
        var path = Path.Combine(folder, "notes.txt");
        File.WriteAllText(path, "hello");

        var (exit, output) = Tool("inspect", path);
        Assert.Equal(2, exit);
        Assert.Contains("error: '" + path + "' is not a valid checkpoint: it is 5 bytes long, shorter than the 8-byte header length", output);

        (exit, output) = Tool("inspect", "--json", path);
        Assert.Equal(2, exit);
        Assert.Contains("shorter than the 8-byte header length", JsonDocument.Parse(output).RootElement.GetProperty("error").GetString());

        (exit, output) = Tool("diff", Checkpoint("a.safetensors", 1), path);
        Assert.Equal(2, exit);
        Assert.Contains("shorter than the 8-byte header length", output);

        (exit, output) = Tool("verify", folder);
        Assert.Equal(2, exit);
        Assert.Contains($"'{folder}' is not a valid checkpoint: it is a folder, not a file; name the checkpoint file inside it.", output);

        (exit, output) = Tool("inspect", Path.Combine(folder, "missing.safetensors"));
        Assert.Equal(2, exit);
        Assert.Contains($"The checkpoint '{Path.Combine(folder, "missing.safetensors")}' does not exist.", output);
    }

    [Theory]
    [InlineData("inspect")]
    [InlineData("diff", "only-one.safetensors")]
    [InlineData("summarize", "a.safetensors")]
    [InlineData("inspect", "--jsn", "a.safetensors")]
    public void A_wrong_command_line_exits_with_2_and_says_what_is_wrong(params string[] arguments)
    {
        var (exit, output) = Tool(arguments);

        Assert.Equal(2, exit);
        Assert.Contains("Usage:", output);
    }

    [Fact]
    public void Diff_names_the_tensors_that_changed_and_by_how_much()
    {
        var a = Checkpoint("a.safetensors", 1);
        var (exit, output) = Tool("diff", a, a);
        Assert.Equal(0, exit);
        Assert.Contains("The files are the same: metadata and tensors identical.", output);

        (exit, output) = Tool("diff", a, Checkpoint("b.safetensors", 2));

        Assert.Equal(1, exit);
        Assert.Matches(@"head\.weight +values +\d", output);
        Assert.Matches(@"head\.bias +values +\d", output);
        // The frozen encoder was initialised from the seed too: its weights fingerprint differs.
        Assert.Matches(@"weights of pretrained part 'encoder\.' +content-xxh3-64:[0-9a-f]{16} +content-xxh3-64:[0-9a-f]{16}\n", output);
        Assert.Contains("2 of 2 tensors differ; 1 metadata entries differ.", output);
        AssertPlain(output);
    }

    [Fact]
    public void Diff_compares_the_metadata_too()
    {
        var a = Checkpoint("a.safetensors", 1);

        // The same trainable weights, saved by another model type...
        var (exit, output) = Tool("diff", a, Checkpoint("renamed.safetensors", 1, modelType: "Renamed"));
        Assert.Equal(1, exit);
        Assert.Matches(@"model type +Demo +Renamed\n", output);
        Assert.Contains("0 of 2 tensors differ; 1 metadata entries differ.", output);

        // ... and against a pretrained part of another structure.
        (exit, output) = Tool("diff", a, Checkpoint("wider.safetensors", 1, encoderWidth: 8));
        Assert.Equal(1, exit);
        Assert.Matches(@"structure of pretrained part 'encoder\.' +structure-sha256:[0-9a-f]{64} +structure-sha256:[0-9a-f]{64}\n", output);
        Assert.Matches(@"weights of pretrained part 'encoder\.' +content-xxh3-64:[0-9a-f]{16} +content-xxh3-64:[0-9a-f]{16}\n", output);
        Assert.Contains("0 of 2 tensors differ; 2 metadata entries differ.", output);
    }

    [Fact]
    public void Diff_flags_a_damaged_input()
    {
        var a = Checkpoint("a.safetensors", 1);
        var damaged = Damaged(a);

        var (exit, output) = Tool("diff", a, damaged);

        Assert.Equal(1, exit);
        Assert.Contains($"'{damaged}' is damaged: its data does not match the checksum recorded at save", output);
        Assert.Contains("1 file(s) damaged", output);
    }

    [Fact]
    public void Diff_json_holds_files_metadata_and_tensors()
    {
        var a = Checkpoint("a.safetensors", 1);
        var (exit, output) = Tool("diff", "--json", a, a);
        Assert.Equal(0, exit);
        Assert.True(JsonDocument.Parse(output).RootElement.GetProperty("same").GetBoolean());

        var b = Damaged(Checkpoint("b.safetensors", 2, modelType: "Renamed"));
        (exit, output) = Tool("diff", "--json", a, b);

        Assert.Equal(1, exit);
        var report = JsonDocument.Parse(output).RootElement;
        Assert.False(report.GetProperty("same").GetBoolean());
        Assert.Equal(a, report.GetProperty("a").GetProperty("file").GetString());
        Assert.Equal("intact", report.GetProperty("a").GetProperty("status").GetString());
        Assert.Equal("damaged", report.GetProperty("b").GetProperty("status").GetString());
        // Sorted by key: the frozen encoder's weights (another seed), then the model type.
        var metadata = report.GetProperty("metadata").EnumerateArray().ToList();
        Assert.Equal(["checkpointgen.content.encoder.", "checkpointgen.model"], metadata.Select(m => m.GetProperty("key").GetString()));
        Assert.Equal("weights of pretrained part 'encoder.'", metadata[0].GetProperty("what").GetString());
        var model = metadata[1];
        Assert.Equal("model type", model.GetProperty("what").GetString());
        Assert.Equal("Demo", model.GetProperty("a").GetString());
        Assert.Equal("Renamed", model.GetProperty("b").GetString());
        var tensors = report.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(["head.bias", "head.weight"], tensors.Select(t => t.GetProperty("key").GetString()));
        Assert.All(tensors, t => Assert.Equal("values", t.GetProperty("change").GetString()));
        Assert.All(tensors, t => Assert.True(t.GetProperty("maxAbsDifference").GetDouble() > 0));
        Assert.Equal(2, report.GetProperty("tensorCount").GetInt32());
    }

    /// <summary>What a script reads: no escape sequences, no Spectre markup, no box-drawing characters.</summary>
    private static void AssertPlain(string output)
    {
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotMatch(@"\[/?(red|green|bold)\]|\[/\]", output);
        Assert.DoesNotMatch("[\u2500-\u257f]", output);
    }

    private static (int Exit, string Output) Tool(params string[] arguments)
    {
        var result = ProcessRunner.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "CheckpointGen.Tool.dll"), .. arguments],
            // Wide enough that messages are not wrapped mid-word.
            environment: new Dictionary<string, string> { ["COLUMNS"] = "400" });
        return (result.ExitCode, result.Log);
    }
}
