using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using CheckpointGen;
using CheckpointGen.Tool;

// Exit codes, for scripts: 0 intact / the same, 1 damaged / different, 2 unreadable or a wrong command line.
var inspectFile = new Argument<string>("file") { Description = "A checkpoint (safetensors) file." };
var inspectJson = JsonOption();
var inspect = new Command("inspect", "Tensors, dtypes, shapes and bytes; model type, excluded parts, fingerprints and checksum status. Exit code 0 when the data is intact or records no checksum, 1 when it is damaged, 2 when the file cannot be read.") { inspectFile, inspectJson };
inspect.SetAction(result => Guarded(result.GetValue(inspectJson), () => Inspect(result.GetValue(inspectFile)!, result.GetValue(inspectJson))));

var verifyFile = new Argument<string>("file") { Description = "A checkpoint (safetensors) file." };
var verifyJson = JsonOption();
var verify = new Command("verify", "The full integrity check: header, metadata and the checksum of the data. Exit code 0 when intact (or the file records no checksum), 1 when damaged, 2 when the file cannot be read.") { verifyFile, verifyJson };
verify.SetAction(result => Guarded(result.GetValue(verifyJson), () => Verify(result.GetValue(verifyFile)!, result.GetValue(verifyJson))));

var left = new Argument<string>("a") { Description = "The first checkpoint." };
var right = new Argument<string>("b") { Description = "The second checkpoint." };
var diffJson = JsonOption();
var diff = new Command("diff", "Metadata that differs (model type, excluded parts, fingerprints, training state), keys added or removed, dtype or shape changes, the largest absolute difference of each tensor, and damaged data. Exit code 0 when the files are the same, 1 when they differ or either is damaged, 2 when either cannot be read.") { left, right, diffJson };
diff.SetAction(result => Guarded(result.GetValue(diffJson), () => Diff(result.GetValue(left)!, result.GetValue(right)!, result.GetValue(diffJson))));

var root = new RootCommand("checkpointgen: look into CheckpointGen checkpoints and any safetensors file.") { inspect, verify, diff };
var parsed = root.Parse(args);
var exit = parsed.Invoke();
// System.CommandLine has already said what is wrong with the command line; 1 would read as "damaged" to a script.
return parsed.Errors.Count > 0 ? ExitCodes.UnreadableOrUsage : exit;

static Option<bool> JsonOption() => new("--json") { Description = "Write the report as JSON on standard output (documented in docs/tool.md)." };

// A file that cannot be read gives the library's own message and exit code 2; with --json, as {"error": "..."}.
static int Guarded(bool json, Func<int> action)
{
    try
    {
        return action();
    }
    catch (Exception e) when (e is CheckpointFormatException or IOException or UnauthorizedAccessException)
    {
        if (json)
        {
            Output.Json(new { error = e.Message });
        }
        else
        {
            Output.Error(e.Message);
        }
        return ExitCodes.UnreadableOrUsage;
    }
}

static int Inspect(string path, bool json)
{
    var output = Output.ForStandardOutput();
    using var file = CheckpointFile.Open(path);
    var report = InspectReport.Of(file, FileCheck.Of(file, json ? f => f.ActualChecksum() : output.Hash));
    if (json)
    {
        Output.Json(report);
        return report.ExitCode;
    }

    output.Line(report.File, Tone.Heading);
    output.Line(report.CheckpointGenVersion is { } version
        ? $"model: {report.Model ?? "(not recorded)"}, written by CheckpointGen {version} (checkpoint layout {report.Metadata.GetValueOrDefault(CheckpointMetadata.FormatVersion, "1")})"
        : $"not written by CheckpointGen (its metadata has no '{CheckpointMetadata.Version}'): a plain safetensors file, with no model type, excluded parts or checksum recorded");
    if (report.Step is { } step)
    {
        var metrics = report.Metrics is { Count: > 0 } values ? ", metrics: " + string.Join(", ", values.Select(m => $"{m.Key} = {m.Value}")) : "";
        output.Line(string.Create(CultureInfo.InvariantCulture, $"saved by a CheckpointManager at step {step}{metrics}"));
    }
    foreach (var part in report.Excluded)
    {
        output.Line($"excluded pretrained part '{part.Prefix}': structure {part.Structure ?? "not recorded"}, weights {part.Weights ?? "not recorded"}");
    }
    foreach (var (key, value) in report.Metadata.Where(entry => !Shown(entry.Key)))
    {
        output.Line($"metadata '{key}': {value}");
    }
    output.Table(
        ["tensor", "dtype", "shape", "bytes"],
        report.Tensors.Select(t => (string[])[t.Key, t.Dtype, Shape(t.Shape), t.Bytes.ToString("N0", CultureInfo.InvariantCulture)]));
    output.Line(string.Create(CultureInfo.InvariantCulture, $"{report.TensorCount} tensors, {report.TensorBytes:N0} bytes"));
    switch (report.Status)
    {
        case DataStatus.Intact:
            output.Line($"checksum: {report.RecordedChecksum}, verified", Tone.Good);
            break;
        case DataStatus.Damaged:
            output.Line($"checksum: {report.RecordedChecksum}, DOES NOT MATCH the data (read {report.ActualChecksum}): the file is damaged. Restore it from a copy or use an earlier checkpoint.", Tone.Bad);
            break;
        default:
            output.Line("checksum: not recorded, so the data cannot be verified (CheckpointGen records one in every checkpoint it writes)");
            break;
    }
    return report.ExitCode;

    // Entries the lines above already tell; the checksum is the last line.
    bool Shown(string key) => key is CheckpointMetadata.Version or CheckpointMetadata.FormatVersion or CheckpointMetadata.Model or CheckpointMetadata.Excluded or CheckpointMetadata.Checksum
        || (key is CheckpointMetadata.Step && report.Step is not null) || (key is CheckpointMetadata.Metrics && report.Metrics is not null)
        || key.StartsWith(CheckpointMetadata.FingerprintPrefix, StringComparison.Ordinal)
        || key.StartsWith(CheckpointMetadata.ContentPrefix, StringComparison.Ordinal);
}

static int Verify(string path, bool json)
{
    var output = Output.ForStandardOutput();
    using var file = CheckpointFile.Open(path);
    var check = FileCheck.Of(file, json ? f => f.ActualChecksum() : output.Hash);
    var exit = check.Status == DataStatus.Damaged ? ExitCodes.DamagedOrDifferent : ExitCodes.Good;
    if (json)
    {
        Output.Json(check);
    }
    else if (check.Status == DataStatus.Damaged)
    {
        Output.Error(check.Damage());
    }
    else if (check.Status == DataStatus.Unverified)
    {
        output.Line($"{check.File}: the header is valid; the file records no checksum, so its data cannot be verified.");
    }
    else
    {
        output.Line($"{check.File}: intact ({check.TensorCount} tensors, checksum {check.ActualChecksum}).", Tone.Good);
    }
    return exit;
}

static int Diff(string pathA, string pathB, bool json)
{
    var output = Output.ForStandardOutput();
    using var a = CheckpointFile.Open(pathA);
    using var b = CheckpointFile.Open(pathB);
    var report = DiffReport.Of(a, b, json ? f => f.ActualChecksum() : output.Hash);
    if (json)
    {
        Output.Json(report);
        return report.ExitCode;
    }

    output.Line($"a: {report.A.File}", Tone.Heading);
    output.Line($"b: {report.B.File}", Tone.Heading);
    foreach (var check in new[] { report.A, report.B }.Where(check => check.Status == DataStatus.Damaged))
    {
        output.Line(check.Damage(), Tone.Bad);
    }
    if (report.Metadata.Count > 0)
    {
        output.Table(["metadata", "a", "b"], report.Metadata.Select(m => (string[])[m.What, m.A ?? "(none)", m.B ?? "(none)"]));
    }
    if (report.Tensors.Count > 0)
    {
        output.Table(["tensor", "change", "max |a - b|"], report.Tensors.Select(t => (string[])[t.Key, Change(t), t.MaxAbsDifference?.ToString("G6", CultureInfo.InvariantCulture) ?? ""]));
    }
    if (report.Same)
    {
        output.Line("The files are the same: metadata and tensors identical.", Tone.Good);
    }
    else
    {
        var damaged = new[] { report.A, report.B }.Count(check => check.Status == DataStatus.Damaged);
        output.Line(string.Create(CultureInfo.InvariantCulture,
            $"{report.Tensors.Count} of {report.TensorCount} tensors differ; {report.Metadata.Count} metadata entries differ{(damaged > 0 ? $"; {damaged} file(s) damaged" : "")}."), Tone.Bad);
    }
    return report.ExitCode;

    static string Change(TensorChange change) => change.Change switch
    {
        TensorChangeKind.Added => $"added: {change.B}",
        TensorChangeKind.Removed => $"removed: was {change.A}",
        TensorChangeKind.Layout => $"{change.A} -> {change.B}",
        _ => "values",
    };
}

static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
