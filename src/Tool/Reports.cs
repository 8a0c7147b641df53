using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using CheckpointGen.Format;

namespace CheckpointGen.Tool;

/// <summary>What the checksum says about a file's data.</summary>
internal enum DataStatus
{
    /// <summary>The data matches the checksum recorded at save.</summary>
    Intact,

    /// <summary>The data does not match the checksum recorded at save.</summary>
    Damaged,

    /// <summary>The file records no checksum (CheckpointGen did not write it): the header is valid, the data cannot be checked.</summary>
    Unverified,
}

/// <summary>A file's checksum as recorded in its metadata and as its data hashes now.</summary>
internal sealed record FileCheck(string File, DataStatus Status, string? RecordedChecksum, string? ActualChecksum, int TensorCount)
{
    public static FileCheck Of(CheckpointFile file, Func<CheckpointFile, string> hash)
    {
        var recorded = file.RecordedChecksum;
        var actual = recorded is null ? null : hash(file);
        var status = recorded is null ? DataStatus.Unverified : actual == recorded ? DataStatus.Intact : DataStatus.Damaged;
        return new FileCheck(file.Path, status, recorded, actual, file.Index.Entries.Count);
    }

    /// <summary>Why the file is damaged, in the library's words, with what to do about it.</summary>
    public string Damage() => $"'{File}' is damaged: its data does not match the checksum recorded at save (recorded {RecordedChecksum}, read {ActualChecksum}). Restore it from a copy or use an earlier checkpoint.";
}

/// <summary>One tensor of a file, as its header describes it.</summary>
internal sealed record TensorInfo(string Key, string Dtype, long[] Shape, long Bytes);

/// <summary>
/// A pretrained part left out of the checkpoint, with the fingerprints recorded at save: of its keys, dtypes and shapes
/// (<c>Structure</c>), and of its weights (<c>Weights</c>, <see langword="null"/> when none was recorded).
/// </summary>
internal sealed record ExcludedPart(string Prefix, string? Structure, string? Weights);

/// <summary>
/// Everything <c>inspect</c> tells about a file: <c>CheckpointGenVersion</c> is <see langword="null"/> for a file another
/// tool wrote; <c>ActualChecksum</c> is the checksum of the data now, when the file records one to compare with;
/// <c>Metadata</c> is the whole <c>__metadata__</c> of the file, as it is.
/// </summary>
internal sealed record InspectReport(
    string File,
    DataStatus Status,
    string? CheckpointGenVersion,
    string? Model,
    IReadOnlyList<ExcludedPart> Excluded,
    IReadOnlyList<TensorInfo> Tensors,
    int TensorCount,
    long TensorBytes,
    string? RecordedChecksum,
    string? ActualChecksum,
    long? Step,
    IReadOnlyDictionary<string, string>? Metrics,
    IReadOnlyDictionary<string, string> Metadata)
{
    public static InspectReport Of(CheckpointFile file, FileCheck check)
    {
        var metadata = file.Metadata;
        var tensors = file.Index.Entries
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => new TensorInfo(e.Key, e.Dtype.ToString(), e.Shape, e.ByteLength))
            .ToList();
        var excluded = ExcludedPrefixes(file)
            .Select(prefix => new ExcludedPart(prefix, metadata.GetValueOrDefault(CheckpointMetadata.FingerprintPrefix + prefix), metadata.GetValueOrDefault(CheckpointMetadata.ContentPrefix + prefix)))
            .ToList();
        return new InspectReport(
            file.Path, check.Status, metadata.GetValueOrDefault(CheckpointMetadata.Version), metadata.GetValueOrDefault(CheckpointMetadata.Model),
            excluded, tensors, tensors.Count, tensors.Sum(t => t.Bytes), check.RecordedChecksum, check.ActualChecksum,
            metadata.TryGetValue(CheckpointMetadata.Step, out var step) && long.TryParse(step, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) ? number : null,
            metadata.TryGetValue(CheckpointMetadata.Metrics, out var metrics) ? MetricsOf(metrics) : null,
            new SortedDictionary<string, string>(metadata.ToDictionary(), StringComparer.Ordinal));
    }

    /// <summary>The metrics a CheckpointManager recorded, each as its JSON text (a number, or "NaN" and the infinities), in the file's order.</summary>
    private static Dictionary<string, string>? MetricsOf(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind != JsonValueKind.Object ? null
                : document.RootElement.EnumerateObject().ToDictionary(
                    m => m.Name,
                    m => m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText(),
                    StringComparer.Ordinal);
        }
        catch (JsonException)
        {
            // Shown as it is among the other metadata entries.
            return null;
        }
    }

    /// <summary>The pretrained prefixes the file says it leaves out.</summary>
    public static string[] ExcludedPrefixes(CheckpointFile file)
    {
        if (!file.Metadata.TryGetValue(CheckpointMetadata.Excluded, out var json))
        {
            return [];
        }
        try
        {
            var prefixes = JsonSerializer.Deserialize<string[]>(json);
            if (prefixes is not null && prefixes.All(p => p is not null))
            {
                return prefixes;
            }
        }
        catch (JsonException)
        {
        }
        throw new CheckpointFormatException(file.Path, $"'{CheckpointMetadata.Excluded}' in its metadata is '{json}', not a JSON array of strings: the header is damaged.");
    }

    /// <summary>0 when the data is intact or cannot be checked, 1 when it is damaged.</summary>
    [JsonIgnore]
    public int ExitCode => Status == DataStatus.Damaged ? ExitCodes.DamagedOrDifferent : ExitCodes.Good;
}

/// <summary>
/// One metadata entry that differs between two files (<see langword="null"/> where a file lacks it), with <c>What</c> it
/// is in words: <c>model type</c>, <c>structure of pretrained part 'vae.'</c>, ...
/// </summary>
internal sealed record MetadataChange(string Key, string What, string? A, string? B);

/// <summary>How a tensor differs between two files.</summary>
internal enum TensorChangeKind
{
    /// <summary>Only the second file has it.</summary>
    Added,

    /// <summary>Only the first file has it.</summary>
    Removed,

    /// <summary>Its dtype or shape differs.</summary>
    Layout,

    /// <summary>Same dtype and shape, other values.</summary>
    Values,
}

/// <summary>
/// One tensor that differs between two files: dtype and shape in each (<see langword="null"/> where a file lacks it) and,
/// for changed values, the largest absolute difference between elements (<see langword="null"/> when that is not a
/// finite number: NaN or infinite elements, or a dtype without a numeric reading here).
/// </summary>
internal sealed record TensorChange(string Key, TensorChangeKind Change, string? A, string? B, double? MaxAbsDifference);

/// <summary>
/// Everything <c>diff</c> tells about two files. <c>Same</c>: neither file is damaged, and their metadata (except the
/// checksum, which follows the data) and tensors are identical. <c>TensorCount</c>: the distinct tensor keys of both.
/// </summary>
internal sealed record DiffReport(FileCheck A, FileCheck B, bool Same, IReadOnlyList<MetadataChange> Metadata, IReadOnlyList<TensorChange> Tensors, int TensorCount)
{
    public static DiffReport Of(CheckpointFile a, CheckpointFile b, Func<CheckpointFile, string> hash)
    {
        // Both must be readable before anything is compared: a damaged header is an error, not a difference.
        InspectReport.ExcludedPrefixes(a);
        InspectReport.ExcludedPrefixes(b);
        var (checkA, checkB) = (FileCheck.Of(a, hash), FileCheck.Of(b, hash));
        var metadata = a.Metadata.Keys.Union(b.Metadata.Keys)
            .Where(key => key != CheckpointMetadata.Checksum)  // follows the data, which is compared tensor by tensor
            .Order(StringComparer.Ordinal)
            .Select(key => new MetadataChange(key, Describe(key), a.Metadata.GetValueOrDefault(key), b.Metadata.GetValueOrDefault(key)))
            .Where(change => change.A != change.B)
            .ToList();

        var entriesA = a.Index.Entries.ToDictionary(e => e.Key);
        var entriesB = b.Index.Entries.ToDictionary(e => e.Key);
        var keys = entriesA.Keys.Union(entriesB.Keys).Order(StringComparer.Ordinal).ToList();
        var tensors = new List<TensorChange>();
        foreach (var key in keys)
        {
            var inA = entriesA.GetValueOrDefault(key);
            var inB = entriesB.GetValueOrDefault(key);
            if (inA is null || inB is null)
            {
                tensors.Add(new TensorChange(key, inA is null ? TensorChangeKind.Added : TensorChangeKind.Removed, inA?.Describe(), inB?.Describe(), null));
            }
            else if (inA.Dtype != inB.Dtype || !inA.HasShape(inB.Shape))
            {
                tensors.Add(new TensorChange(key, TensorChangeKind.Layout, inA.Describe(), inB.Describe(), null));
            }
            else if (a.Bytes(inA) is var bytesA && b.Bytes(inB) is var bytesB && !bytesA.AsSpan().SequenceEqual(bytesB))
            {
                var largest = MaxAbsDifference(CheckpointFile.Values(inA.Dtype, bytesA), CheckpointFile.Values(inB.Dtype, bytesB));
                tensors.Add(new TensorChange(key, TensorChangeKind.Values, inA.Describe(), inB.Describe(), largest));
            }
        }
        var same = checkA.Status != DataStatus.Damaged && checkB.Status != DataStatus.Damaged && metadata.Count == 0 && tensors.Count == 0;
        return new DiffReport(checkA, checkB, same, metadata, tensors, keys.Count);
    }

    /// <summary>0 when the files are the same, 1 when they differ or either is damaged.</summary>
    [JsonIgnore]
    public int ExitCode => Same ? ExitCodes.Good : ExitCodes.DamagedOrDifferent;

    private static double? MaxAbsDifference(double[] a, double[] b)
    {
        var max = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }
        return double.IsFinite(max) ? max : null;
    }

    /// <summary>A metadata key in words.</summary>
    public static string Describe(string key) => key switch
    {
        CheckpointMetadata.Model => "model type",
        CheckpointMetadata.Version => "written by CheckpointGen",
        CheckpointMetadata.FormatVersion => "checkpoint layout",
        CheckpointMetadata.Excluded => "excluded pretrained parts",
        "checkpointgen.training" => "training state",
        _ when key.StartsWith(CheckpointMetadata.FingerprintPrefix, StringComparison.Ordinal) => $"structure of pretrained part '{key[CheckpointMetadata.FingerprintPrefix.Length..]}'",
        _ when key.StartsWith(CheckpointMetadata.ContentPrefix, StringComparison.Ordinal) => $"weights of pretrained part '{key[CheckpointMetadata.ContentPrefix.Length..]}'",
        _ => $"metadata '{key}'",
    };
}

/// <summary>The tool's exit codes, for scripts.</summary>
internal static class ExitCodes
{
    /// <summary>The file is intact; the files are the same.</summary>
    public const int Good = 0;

    /// <summary>A file is damaged; the files differ.</summary>
    public const int DamagedOrDifferent = 1;

    /// <summary>A file cannot be read as a checkpoint, or the command line is wrong.</summary>
    public const int UnreadableOrUsage = 2;
}
