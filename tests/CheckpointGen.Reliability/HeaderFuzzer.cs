using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;

namespace CheckpointGen.Reliability;

/// <summary>
/// Structure-aware mutations of a checkpoint's header: keys, dtypes, shapes, data offsets, whole entries, the metadata
/// (format version, checksum, fingerprints, excluded prefixes, model type), the training state's JSON. Half the cases
/// reseal the checksum so the mutation reaches the checks behind it; half load the training state too. Every load must
/// succeed with exactly what the file holds, or be refused with the model, optimizer and training state unchanged.
/// </summary>
public static class HeaderFuzzer
{
    private static readonly string[] Dtypes = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "C64", "f32", "", "F32 "];

    public static FamilyReport Run(int cases, int seed, string folder)
    {
        var report = new FamilyReport("header");
        var random = new Random(seed);
        var path = Path.Combine(folder, "header.safetensors");
        using var fixture = new TrainedFixture(seed);
        for (var i = 0; i < cases; i++)
        {
            var (header, data) = CheckpointBytes.Split(fixture.Checkpoint);
            var mutation = Mutate(header, ref data, random);
            var reseal = random.Next(2) == 0;
            var content = CheckpointBytes.Join(header, data, reseal);
            File.WriteAllBytes(path, content);
            var training = random.Next(2) == 0 ? TrainedFixture.NewTraining(fixture.Optimizer) : null;
            var description = $"case {i} ({mutation}{(reseal ? ", resealed" : "")}{(training is null ? "" : ", with training state")})";
            Load(report, fixture, path, content, training, description);
        }
        return report.Finish();
    }

    /// <summary>One load, judged: a success must be legitimate, a refusal must change nothing.</summary>
    internal static void Load(FamilyReport report, TrainedFixture fixture, string path, byte[] content, TrainingState? training, string description)
    {
        var clock = Stopwatch.StartNew();
        string outcome;
        var refused = true;
        try
        {
            if (training is null)
            {
                fixture.Model.LoadCheckpoint(path);
            }
            else
            {
                fixture.Model.LoadCheckpoint(path, training);
            }
            refused = false;
            outcome = "loaded";
        }
        catch (Exception e)
        {
            outcome = report.Classify(e, description);
        }
        report.Count(outcome, clock.Elapsed);
        if (refused && fixture.Changes(training) is { Count: > 0 } changes)
        {
            report.Changed++;
            report.Fail($"{description}: refused, but changed {string.Join(", ", changes)}");
        }
        if (!refused && CheckpointBytes.Illegitimate(fixture.Model, content, training) is { } why)
        {
            report.Illegitimate++;
            report.Fail($"{description}: loaded, but {why}");
        }
        fixture.Reset();
    }

    private static string Mutate(JsonObject header, ref byte[] data, Random random)
    {
        var metadata = header["__metadata__"]!.AsObject();
        var keys = header.Select(e => e.Key).Where(k => k != "__metadata__").ToArray();
        var key = keys[random.Next(keys.Length)];
        var entry = header[key]!.AsObject();
        var shape = entry["shape"]!.AsArray();
        var offsets = entry["data_offsets"]!.AsArray();
        long[] numbers = [0, 1, 2, 3, 4, 7, 8, 9, 16, 31, 32, 33, 63, 64, -1, int.MaxValue, uint.MaxValue, long.MaxValue, data.Length, data.Length + 1];
        long Number() => numbers[random.Next(numbers.Length)];
        switch (random.Next(16))
        {
            case 0:
                var other = keys[random.Next(keys.Length)];
                string[] names = [other, "encoder.0.weight", "head.weight.", "", "HEAD.WEIGHT", "checkpointgen.optimizer/head.weight/exp_avg", "head.weight\u0000", "__metadata__x", key + "x"];
                var name = names[random.Next(names.Length)];
                header.Remove(key);
                header[name] = entry;
                return $"key '{key}' renamed '{name}'";
            case 1:
                var dtype = Dtypes[random.Next(Dtypes.Length)];
                entry["dtype"] = dtype;
                return $"'{key}' dtype {dtype}";
            case 2 when shape.Count > 0:
                var at = random.Next(shape.Count);
                var dimension = Number();
                shape[at] = dimension;
                return $"'{key}' shape[{at}] = {dimension}";
            case 3:
                var reshaped = random.Next(3) switch
                {
                    0 => new JsonArray([.. shape.Select(d => d!.DeepClone()), 1]),
                    1 => new JsonArray([.. shape.Reverse().Select(d => d!.DeepClone())]),
                    _ => new JsonArray([.. shape.Skip(1).Select(d => d!.DeepClone())]),
                };
                entry["shape"] = reshaped;
                return $"'{key}' shape {reshaped.ToJsonString()}";
            case 4:
                var which = random.Next(2);
                var delta = random.Next(2) == 0 ? Number() : (long)offsets[which]! + random.Next(-8, 9);
                offsets[which] = delta;
                return $"'{key}' data_offsets[{which}] = {delta}";
            case 5:
                var swapWith = header[keys[random.Next(keys.Length)]]!.AsObject();
                (entry["data_offsets"], swapWith["data_offsets"]) = (swapWith["data_offsets"]!.DeepClone(), entry["data_offsets"]!.DeepClone());
                return $"'{key}' offsets swapped with another entry's";
            case 6:
                header.Remove(key);
                return $"'{key}' removed";
            case 7:
                var end = (long)data.Length;
                var extra = random.Next(3);
                header["extra" + extra] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(2), ["data_offsets"] = new JsonArray(end, end + 8) };
                data = [.. data, .. new byte[8]];
                return $"entry 'extra{extra}' added";
            case 8:
                JsonNode?[] values = ["F32", 1, null, new JsonArray(), new JsonObject(), "x", true];
                var field = new[] { "dtype", "shape", "data_offsets" }[random.Next(3)];
                var value = values[random.Next(values.Length)];
                entry[field] = value?.DeepClone();
                return $"'{key}' {field} = {value?.ToJsonString() ?? "null"}";
            case 9:
                string[] versions = ["1", "2", "3", "0", "", "two", "2 ", "-1", "99999999999999999999"];
                var version = versions[random.Next(versions.Length)];
                metadata[CheckpointMetadata.FormatVersion] = version;
                return $"format version '{version}'";
            case 10:
                var checksum = (string)metadata[CheckpointMetadata.Checksum]!;
                var position = random.Next(checksum.Length);
                string[] checksums = [checksum[..position] + "0123456789abcdefXG-:"[random.Next(20)] + checksum[(position + 1)..], checksum.ToUpperInvariant(), "xxh3-64:", "", checksum + "0", "crc32:00000000"];
                var replaced = checksums[random.Next(checksums.Length)];
                metadata[CheckpointMetadata.Checksum] = replaced;
                return $"checksum '{replaced}'";
            case 11:
                string[] entries = [CheckpointMetadata.Checksum, CheckpointMetadata.FormatVersion, CheckpointMetadata.Excluded, CheckpointMetadata.Model, CheckpointMetadata.Version, CheckpointMetadata.Format, "checkpointgen.fingerprint.encoder.", "checkpointgen.training"];
                var removed = entries[random.Next(entries.Length)];
                metadata.Remove(removed);
                return $"metadata '{removed}' removed";
            case 12:
                string[] targets = [CheckpointMetadata.Excluded, CheckpointMetadata.Model, "checkpointgen.fingerprint.encoder.", "checkpointgen.content.encoder.", "checkpointgen.fingerprint.head.", CheckpointMetadata.Version, "unknown.entry"];
                string[] texts = ["", "encoder.", "encoder.,head.", "head.", "[\"encoder.\"]", "Other", "x", "sha256:00"];
                var target = targets[random.Next(targets.Length)];
                var text = texts[random.Next(texts.Length)];
                metadata[target] = text;
                return $"metadata '{target}' = '{text}'";
            case 13:
                var nonString = random.Next(2) == 0 ? (JsonNode?)1 : null;
                var victim = metadata.Select(e => e.Key).ToArray()[random.Next(metadata.Count)];
                metadata[victim] = nonString;
                return $"metadata '{victim}' = {nonString?.ToJsonString() ?? "null"}";
            case 14 when metadata["checkpointgen.training"] is JsonNode state:
                var mutated = TrainingFuzzer.MutateJson((string)state!, random, out var how);
                metadata["checkpointgen.training"] = mutated;
                return $"training state: {how}";
            default:
                header.Remove("__metadata__");
                header["__metadata__"] = metadata;
                return "metadata moved to the end";
        }
    }
}
