using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using CheckpointGen.Format;

namespace CheckpointGen.Training;

/// <summary>
/// The files of a <see cref="CheckpointManager"/>: their names (<c>step-{step}.safetensors</c>, or
/// <c>step-{step}-v{n}.safetensors</c> when that name is taken by a file the manager did not write), the metadata entries
/// that hold their step and metrics, and how a file is recognised as the manager's own: its name, CheckpointGen's
/// metadata for the same model type, and a step entry equal to the step in its name.
/// </summary>
internal static class CheckpointFolder
{
    private const string Prefix = "step-";
    private const string Extension = ".safetensors";

    public static string FileName(long step, int version)
        => version == 0 ? string.Create(CultureInfo.InvariantCulture, $"{Prefix}{step}{Extension}") : string.Create(CultureInfo.InvariantCulture, $"{Prefix}{step}-v{version}{Extension}");

    /// <summary>Parses a name <see cref="FileName"/> gives, and nothing else: no leading zeros, no other text.</summary>
    public static bool TryParse(string fileName, out long step, out int version)
    {
        step = 0;
        version = 0;
        if (!fileName.StartsWith(Prefix, StringComparison.Ordinal) || !fileName.EndsWith(Extension, StringComparison.Ordinal))
        {
            return false;
        }
        var middle = fileName[Prefix.Length..^Extension.Length];
        var dash = middle.IndexOf("-v", StringComparison.Ordinal);
        if (dash < 0)
        {
            return Canonical(middle, out step);
        }
        if (!Canonical(middle[..dash], out step) || !Canonical(middle[(dash + 2)..], out var number) || number is < 1 or > int.MaxValue)
        {
            return false;
        }
        version = (int)number;
        return true;
    }

    private static bool Canonical(string digits, out long value)
    {
        value = 0;
        return digits.Length > 0 && digits.All(char.IsAsciiDigit) && (digits == "0" || digits[0] != '0')
            && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The metadata entries that make a file the manager's: its step, and its metrics when there are any.</summary>
    public static Dictionary<string, string> Entries(long step, IReadOnlyDictionary<string, double> metrics)
    {
        var entries = new Dictionary<string, string> { [CheckpointMetadata.Step] = step.ToString(CultureInfo.InvariantCulture) };
        if (metrics.Count > 0)
        {
            using var json = new MemoryStream();
            using (var writer = new Utf8JsonWriter(json))
            {
                writer.WriteStartObject();
                foreach (var (name, value) in metrics)
                {
                    // JSON has no NaN or infinities: they are written as the strings .NET reads back.
                    if (double.IsFinite(value))
                    {
                        writer.WriteNumber(name, value);
                    }
                    else
                    {
                        writer.WriteString(name, value.ToString(CultureInfo.InvariantCulture));
                    }
                }
                writer.WriteEndObject();
            }
            entries[CheckpointMetadata.Metrics] = System.Text.Encoding.UTF8.GetString(json.ToArray());
        }
        return entries;
    }

    /// <summary>A file in the folder with a manager's name, and either what the manager knows of it or why it is not the manager's.</summary>
    public sealed record Candidate(string Path, long NameStep, int Version, CheckpointInfo? Info, string? Reason);

    /// <summary>Every file of the folder named like a manager's checkpoint, newest step first, each read from its header only.</summary>
    public static List<Candidate> Scan(string directory, string modelType)
    {
        var candidates = new List<Candidate>();
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*" + Extension))
        {
            if (TryParse(Path.GetFileName(path), out var step, out var version))
            {
                var (info, reason) = Read(path, modelType);
                candidates.Add(new Candidate(path, step, version, info, reason));
            }
        }
        return candidates.OrderByDescending(c => c.NameStep).ThenByDescending(c => c.Version).ToList();
    }

    /// <summary>The file as the manager's checkpoint, or why it is not one: unreadable or damaged header, another writer, another model.</summary>
    public static (CheckpointInfo? Info, string? Reason) Read(string path, string modelType)
    {
        if (!TryParse(Path.GetFileName(path), out var nameStep, out _))
        {
            return (null, "its name is not one a checkpoint manager gives");
        }
        IReadOnlyDictionary<string, string> metadata;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1 << 16);
            metadata = Safetensors.ReadIndex(stream, path, stream.Length).Metadata;
        }
        catch (Exception e) when (e is CheckpointFormatException or IOException or UnauthorizedAccessException)
        {
            return (null, $"its header cannot be read: {e.Message}");
        }
        if (!metadata.ContainsKey(CheckpointMetadata.Version))
        {
            return (null, "it was not written by CheckpointGen");
        }
        if (metadata.GetValueOrDefault(CheckpointMetadata.Model) != modelType)
        {
            return (null, $"it is a checkpoint of {metadata.GetValueOrDefault(CheckpointMetadata.Model) ?? "an unnamed model"}, not of {modelType}");
        }
        if (!metadata.TryGetValue(CheckpointMetadata.Step, out var stepText))
        {
            return (null, $"it was not written by a checkpoint manager (no '{CheckpointMetadata.Step}' entry)");
        }
        if (!Canonical(stepText, out var step) || step != nameStep)
        {
            return (null, $"its '{CheckpointMetadata.Step}' entry is '{stepText}', but its name says step {nameStep}");
        }
        var metrics = metadata.TryGetValue(CheckpointMetadata.Metrics, out var json) ? ParseMetrics(json) : new Dictionary<string, double>();
        return metrics is null
            ? (null, $"its '{CheckpointMetadata.Metrics}' entry is not a JSON object of numbers: the header is damaged")
            : (new CheckpointInfo(path, step, metrics), null);
    }

    private static Dictionary<string, double>? ParseMetrics(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 2 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var metric in document.RootElement.EnumerateObject())
            {
                var value = metric.Value.ValueKind switch
                {
                    JsonValueKind.Number when metric.Value.TryGetDouble(out var number) && double.IsFinite(number) => number,
                    JsonValueKind.String when metric.Value.GetString() is "NaN" or "Infinity" or "-Infinity" => double.Parse(metric.Value.GetString()!, CultureInfo.InvariantCulture),
                    _ => (double?)null,
                };
                if (value is null || !metrics.TryAdd(metric.Name, value.Value))
                {
                    return null;
                }
            }
            return metrics;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
