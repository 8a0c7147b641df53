using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using CheckpointGen;
using CheckpointGen.Tool;
using Spectre.Console;

var file = new Argument<string>("file") { Description = "A checkpoint (safetensors) file." };
var inspect = new Command("inspect", "Tensors, dtypes, shapes and bytes; model type, excluded parts, fingerprints and checksum status.") { file };
inspect.SetAction(result => Guarded(() => Inspect(result.GetValue(file)!)));

var verifyFile = new Argument<string>("file") { Description = "A checkpoint (safetensors) file." };
var verify = new Command("verify", "The full integrity check: header, metadata and the checksum of the data. Exit code 0 when intact.") { verifyFile };
verify.SetAction(result => Guarded(() => Verify(result.GetValue(verifyFile)!)));

var left = new Argument<string>("a") { Description = "The first checkpoint." };
var right = new Argument<string>("b") { Description = "The second checkpoint." };
var diff = new Command("diff", "Keys added or removed, dtype or shape changes, and the largest absolute difference of each tensor. Exit code 0 when the tensors are identical.") { left, right };
diff.SetAction(result => Guarded(() => Diff(result.GetValue(left)!, result.GetValue(right)!)));

var root = new RootCommand("checkpointgen: look into CheckpointGen checkpoints and any safetensors file.") { inspect, verify, diff };
return root.Parse(args).Invoke();

// Bad files give the library's own messages and exit code 2.
static int Guarded(Func<int> action)
{
    try
    {
        return action();
    }
    catch (Exception e) when (e is CheckpointFormatException or FileNotFoundException or IOException or UnauthorizedAccessException)
    {
        AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[red]error:[/] {e.Message}");
        return 2;
    }
}

static int Inspect(string path)
{
    using var checkpoint = CheckpointFile.Open(path);
    var metadata = checkpoint.Metadata;
    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[bold]{checkpoint.Path}[/]");
    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"model: {Entry(metadata, CheckpointMetadata.Model, "(not recorded)")}, written by CheckpointGen {Entry(metadata, CheckpointMetadata.Version, "(not CheckpointGen)")}");
    var excluded = metadata.TryGetValue(CheckpointMetadata.Excluded, out var json) ? JsonSerializer.Deserialize<string[]>(json) ?? [] : [];
    foreach (var prefix in excluded)
    {
        AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"excluded pretrained part '{prefix}': structure {Entry(metadata, CheckpointMetadata.FingerprintPrefix + prefix, "-")}, weights {Entry(metadata, CheckpointMetadata.ContentPrefix + prefix, "not recorded")}");
    }
    var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
    foreach (var entry in checkpoint.Index.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
    {
        table.AddRow(Markup.Escape(entry.Key), entry.Dtype.ToString(), $"[[{string.Join(", ", entry.Shape)}]]", entry.ByteLength.ToString("N0", CultureInfo.InvariantCulture));
    }
    AnsiConsole.Write(table);
    var total = checkpoint.Index.Entries.Sum(e => e.ByteLength);
    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{checkpoint.Index.Entries.Count} tensors, {total:N0} bytes");
    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"checksum: {ChecksumStatus(checkpoint)}");
    return 0;
}

static int Verify(string path)
{
    using var checkpoint = CheckpointFile.Open(path);
    var recorded = checkpoint.RecordedChecksum;
    if (recorded is null)
    {
        AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{checkpoint.Path}: the header is valid; the file records no checksum, so its data cannot be verified.");
        return 0;
    }
    var actual = WithProgress(checkpoint, "verifying");
    if (actual != recorded)
    {
        AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[red]error:[/] '{checkpoint.Path}' is not a valid checkpoint: its data does not match the checksum recorded at save (recorded {recorded}, read {actual}): the file is damaged.");
        return 1;
    }
    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{checkpoint.Path}: intact ({checkpoint.Index.Entries.Count} tensors, checksum {actual}).");
    return 0;
}

static int Diff(string pathA, string pathB)
{
    using var a = CheckpointFile.Open(pathA);
    using var b = CheckpointFile.Open(pathB);
    var entriesA = a.Index.Entries.ToDictionary(e => e.Key);
    var entriesB = b.Index.Entries.ToDictionary(e => e.Key);
    var table = new Table().AddColumns("tensor", "change", "max |a - b|");
    var differences = 0;
    foreach (var key in entriesA.Keys.Union(entriesB.Keys).Order(StringComparer.Ordinal))
    {
        string change;
        var largest = "";
        if (!entriesB.TryGetValue(key, out var inB))
        {
            change = "removed";
        }
        else if (!entriesA.TryGetValue(key, out var inA))
        {
            change = "added";
        }
        else if (inA.Dtype != inB.Dtype || !inA.Shape.SequenceEqual(inB.Shape))
        {
            change = $"{inA.Describe()} → {inB.Describe()}";
        }
        else
        {
            var valuesA = a.Values(inA);
            var valuesB = b.Values(inB);
            var max = valuesA.Zip(valuesB, (x, y) => Math.Abs(x - y)).DefaultIfEmpty(0).Max();
            if (max == 0 && valuesA.SequenceEqual(valuesB))
            {
                continue;
            }
            change = "values";
            largest = max.ToString("G6", CultureInfo.InvariantCulture);
        }
        differences++;
        table.AddRow(Markup.Escape(key), Markup.Escape(change), largest);
    }
    if (differences == 0)
    {
        AnsiConsole.MarkupLine("The tensors are identical.");
        return 0;
    }
    AnsiConsole.Write(table);
    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{differences} of {entriesA.Keys.Union(entriesB.Keys).Count()} tensors differ.");
    return 1;
}

// A progress bar for files large enough to wait for.
static string WithProgress(CheckpointFile checkpoint, string what)
{
    if (checkpoint.DataBytes < 64L << 20 || Console.IsOutputRedirected)
    {
        return checkpoint.ActualChecksum();
    }
    var checksum = "";
    AnsiConsole.Progress().Start(context =>
    {
        var task = context.AddTask(what, maxValue: checkpoint.DataBytes);
        checksum = checkpoint.ActualChecksum(bytes => task.Increment(bytes));
    });
    return checksum;
}

static string Entry(System.Collections.Generic.IReadOnlyDictionary<string, string> metadata, string key, string otherwise)
    => metadata.TryGetValue(key, out var value) ? value : otherwise;

static string ChecksumStatus(CheckpointFile checkpoint)
    => checkpoint.RecordedChecksum is not { } recorded ? "not recorded"
        : WithProgress(checkpoint, "hashing") == recorded ? $"{recorded}, verified" : $"{recorded}, [red]DOES NOT MATCH the data[/]";
