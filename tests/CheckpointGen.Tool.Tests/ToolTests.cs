using System;
using System.Diagnostics;
using System.IO;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Tool.Tests;

/// <summary>The checkpointgen command on real checkpoints, run as a user runs it.</summary>
public sealed class ToolTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("checkpointgen-tool-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>A real checkpoint of a model with a frozen encoder, written by the library.</summary>
    private string Checkpoint(string name, int seed)
    {
        manual_seed(seed);
        using var encoder = nn.Linear(4, 4);
        using var head = nn.Linear(4, 2);
        using var model = nn.Sequential(("encoder", encoder), ("head", head));
        var path = Path.Combine(folder, name);
        new CheckpointPolicy(model, "Demo", new PretrainedField("encoder", encoder)).SaveCheckpoint(path);
        return path;
    }

    [Fact]
    public void Inspect_shows_tensors_model_excluded_parts_and_checksum()
    {
        var (exit, output) = Tool("inspect", Checkpoint("a.safetensors", 1));

        Assert.Equal(0, exit);
        Assert.Contains("model: Demo", output);
        Assert.Contains("excluded pretrained part 'encoder.'", output);
        Assert.Contains("head.weight", output);
        Assert.Contains("[2, 4]", output);
        Assert.DoesNotContain("encoder.weight", output);
        Assert.Contains("verified", output);
    }

    [Fact]
    public void Verify_passes_an_intact_file_and_fails_a_damaged_one_with_the_library_message()
    {
        var path = Checkpoint("a.safetensors", 1);
        Assert.Equal(0, Tool("verify", path).Exit);

        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var (exit, output) = Tool("verify", path);

        Assert.Equal(1, exit);
        Assert.Contains("does not match the checksum recorded at save", Flat(output));
    }

    [Fact]
    public void A_file_that_is_not_a_checkpoint_gives_the_library_error_and_exit_code_2()
    {
        var path = Path.Combine(folder, "notes.txt");
        File.WriteAllText(path, "hello");

        var (exit, output) = Tool("inspect", path);

        Assert.Equal(2, exit);
        Assert.Contains("shorter than the 8-byte header length", Flat(output));
    }

    [Fact]
    public void Diff_names_the_tensors_that_changed_and_by_how_much()
    {
        var a = Checkpoint("a.safetensors", 1);
        Assert.Equal(0, Tool("diff", a, a).Exit);

        var (exit, output) = Tool("diff", a, Checkpoint("b.safetensors", 2));

        Assert.Equal(1, exit);
        Assert.Contains("head.weight", output);
        Assert.Contains("head.bias", output);
        Assert.Contains("2 of 2 tensors differ", output);
    }

    private static string Flat(string text) => text.Replace(Environment.NewLine, " ").Replace("  ", " ");

    private static (int Exit, string Output) Tool(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "CheckpointGen.Tool.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Wide enough that messages are not wrapped mid-word.
        start.Environment["COLUMNS"] = "400";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
