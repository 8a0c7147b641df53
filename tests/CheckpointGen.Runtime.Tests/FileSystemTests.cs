using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>What the file system hands a load or a save: FIFOs, folders, links, modes and owners (POSIX systems).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FileSystemTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static void Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{command} {string.Join(' ', arguments)}: {process.StandardError.ReadToEnd()}");
    }

    private static string Capture(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output.Trim();
    }

    [Fact]
    public void A_fifo_named_as_a_checkpoint_is_refused_without_waiting_for_a_writer()
    {
        var path = folder.File("pipe.safetensors");
        Run("mkfifo", path);
        using var model = new Captioner();

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(path));

        Assert.Contains("not a regular file", error.Message);
    }

    [Fact]
    public void A_fifo_named_as_a_shard_is_refused_without_waiting_for_a_writer()
    {
        var shards = Path.GetDirectoryName(ShardedCaptioner.Source)!;
        Directory.CreateDirectory(shards);
        var shard = Path.Combine(shards, "model-00001-of-00001.safetensors");
        File.Delete(shard);
        Run("mkfifo", shard);
        try
        {
            File.WriteAllText(ShardedCaptioner.Source, "{\"weight_map\": {\"encoder.input.weight\": \"model-00001-of-00001.safetensors\"}}");
            using var model = new ShardedCaptioner();

            var error = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

            Assert.Contains("not a regular file", error.Message);
        }
        finally
        {
            File.Delete(shard);
        }
    }

    [Fact]
    public void A_folder_named_as_a_checkpoint_is_called_a_folder()
    {
        using var model = new Captioner();

        var error = Assert.Throws<CheckpointFormatException>(() => model.LoadCheckpoint(folder.Path));

        Assert.Contains("it is a folder, not a file", error.Message);
    }

    [Fact]
    public void A_shard_linked_to_a_file_outside_the_index_folder_is_refused_without_quoting_it()
    {
        var secret = folder.File("secret.txt");
        File.WriteAllText(secret, "root:x:0:0:root:/root:/bin/bash\nsecond-line-must-not-leak\n");
        var shards = Path.GetDirectoryName(Path.GetFullPath(ShardedCaptioner.Source))!;
        Directory.CreateDirectory(shards);
        var shard = Path.Combine(shards, "model-00001-of-00001.safetensors");
        File.Delete(shard);
        File.CreateSymbolicLink(shard, secret);
        try
        {
            File.WriteAllText(ShardedCaptioner.Source, "{\"weight_map\": {\"encoder.input.weight\": \"model-00001-of-00001.safetensors\"}}");
            using var model = new ShardedCaptioner();

            var error = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

            Assert.Contains("is a link to a file outside the index's folder", error.Message);
            Assert.DoesNotContain("root:x", error.Message);
        }
        finally
        {
            File.Delete(shard);
        }
    }

    [Fact]
    public void A_text_file_given_as_weights_is_quoted_by_a_short_escaped_fragment_at_most()
    {
        var source = Path.GetFullPath(Captioner.Source);
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        File.WriteAllText(source, "root:x:0:0:root:/root:/bin/bash\n" + string.Concat(Enumerable.Repeat("daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", 20)) + "last-line-must-not-leak\n");
        try
        {
            using var model = new Captioner();

            var error = Assert.Throws<CheckpointFormatException>(model.LoadPretrained);

            Assert.DoesNotContain("last-line-must-not-leak", error.Message);
            Assert.DoesNotContain("\n", error.Problem);
            Assert.True(error.Problem.Length < 300, error.Problem);
        }
        finally
        {
            File.Delete(source);
        }
    }

    [Fact]
    public void A_save_keeps_the_mode_and_the_owner_of_the_file_it_replaces()
    {
        var path = folder.File("private.safetensors");
        using var model = new ReliabilityModel();
        model.SaveCheckpoint(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var root = Capture("id", "-u") == "0";
        if (root)
        {
            Run("chown", "1234:2345", path);
        }

        model.Fill(2);
        model.SaveCheckpoint(path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        if (root)
        {
            Assert.Equal("1234:2345", Capture("stat", "-c", "%u:%g", path));
        }
        Assert.Equal(2, new ReliabilityModel().Also(m => m.LoadCheckpoint(path)).Version());
    }

    [Fact]
    public void Saving_to_a_symbolic_link_replaces_the_link_and_leaves_the_file_it_pointed_to()
    {
        var target = folder.File("step-100.safetensors");
        var link = folder.File("latest.safetensors");
        using var model = new ReliabilityModel();
        model.Fill(1);
        model.SaveCheckpoint(target);
        File.CreateSymbolicLink(link, target);
        var kept = File.ReadAllBytes(target);

        model.Fill(2);
        model.SaveCheckpoint(link);

        Assert.Null(new FileInfo(link).LinkTarget);
        Assert.Equal(kept, File.ReadAllBytes(target));
        Assert.Equal(2, new ReliabilityModel().Also(m => m.LoadCheckpoint(link)).Version());
    }
}

internal static class Fluent
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
