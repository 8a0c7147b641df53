using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CheckpointGen.Training;

/// <summary>
/// The training state a checkpoint records beside the weights, as one typed value. It is written as JSON under
/// <see cref="MetadataKey"/> and read back by <see cref="Read"/>, which checks every type, null and duplicate once, so
/// that later steps only compare and assign. The schema is in docs/file-format.md.
/// </summary>
internal sealed record TrainingSnapshot(long Step, int Epoch, IReadOnlyDictionary<string, string> Metadata, OptimizerSnapshot? Optimizer)
{
    /// <summary>The metadata entry holding the JSON.</summary>
    public const string MetadataKey = "checkpointgen.training";

    /// <summary>The key prefix of the optimizer's tensors: never a module key, and skipped by a weights-only load.</summary>
    public const string TensorKeyPrefix = "checkpointgen.optimizer/";

    public static string TensorKey(string parameter, string field) => $"{TensorKeyPrefix}{parameter}/{field}";

    /// <summary>The learning-rate scheduler's state, when one was saved.</summary>
    public SchedulerSnapshot? Scheduler { get; init; }

    public string ToJson()
    {
        var json = new JsonObject
        {
            ["step"] = Step,
            ["epoch"] = Epoch,
            ["metadata"] = Strings(Metadata),
        };
        if (Optimizer is { } optimizer)
        {
            json["optimizer"] = optimizer.Kind;
            json["groups"] = new JsonArray(optimizer.Groups.Select(g => (JsonNode)new JsonObject
            {
                ["parameters"] = new JsonArray(g.Parameters.Select(p => (JsonNode)p).ToArray()),
                ["options"] = Strings(g.Options),
            }).ToArray());
            json["states"] = new JsonObject(optimizer.States.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)new JsonObject
            {
                ["scalars"] = Strings(s.Value.Scalars),
                ["tensors"] = new JsonArray(s.Value.Tensors.Select(t => (JsonNode)t).ToArray()),
            })));
        }
        if (Scheduler is { } scheduler)
        {
            json["scheduler"] = scheduler.ToJson();
        }
        return json.ToJsonString();
    }

    internal static JsonObject Strings<T>(IEnumerable<KeyValuePair<string, T>> values)
        => new(values.Select(e => KeyValuePair.Create(e.Key, e.Value is null ? null : (JsonNode?)JsonValue.Create(e.Value.ToString()))));

    /// <summary>The training state recorded in <paramref name="metadata"/>, or <see langword="null"/> when there is none.</summary>
    /// <exception cref="CheckpointFormatException">The entry is not a training state of this schema.</exception>
    public static TrainingSnapshot? Read(IReadOnlyDictionary<string, string> metadata, string source)
    {
        if (!metadata.TryGetValue(MetadataKey, out var text))
        {
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
            var root = Object(document.RootElement, "the training state");
            var optimizer = root.TryGetValue("optimizer", out var kind) && kind.ValueKind != JsonValueKind.Null
                ? new OptimizerSnapshot(
                    String(kind, "'optimizer'"),
                    Array(Required(root, "groups"), "'groups'").Select((g, i) => Group(g, $"group {i}")).ToArray(),
                    Object(Required(root, "states"), "'states'").ToDictionary(s => s.Key, s => State(s.Value, $"the state of '{s.Key}'"), StringComparer.Ordinal))
                : null;
            return new TrainingSnapshot(
                root.TryGetValue("step", out var step) ? Int64(step, "'step'") : 0,
                root.TryGetValue("epoch", out var epoch) ? checked((int)Int64(epoch, "'epoch'")) : 0,
                root.TryGetValue("metadata", out var values) ? Object(values, "'metadata'").ToDictionary(e => e.Key, e => String(e.Value, $"metadata '{e.Key}'"), StringComparer.Ordinal) : [],
                optimizer)
            {
                Scheduler = root.TryGetValue("scheduler", out var scheduler) && scheduler.ValueKind != JsonValueKind.Null ? SchedulerSnapshot.Read(scheduler) : null,
            };
        }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException)
        {
            throw new CheckpointFormatException(source, $"'{MetadataKey}' is not a valid training state: {e.Message}", e);
        }
    }

    private static OptimizerGroupSnapshot Group(JsonElement value, string what)
    {
        var group = Object(value, what);
        return new OptimizerGroupSnapshot(
            Names(Required(group, "parameters", what), $"the parameters of {what}"),
            NullableStrings(Required(group, "options", what), $"the options of {what}"));
    }

    private static ParameterStateSnapshot State(JsonElement value, string what)
    {
        var state = Object(value, what);
        return new ParameterStateSnapshot(
            NullableStrings(Required(state, "scalars", what), $"the scalars of {what}"),
            Names(Required(state, "tensors", what), $"the tensors of {what}"));
    }

    internal static Dictionary<string, JsonElement> Object(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{what} is a JSON {value.ValueKind}, not an object.");
        }
        var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var member in value.EnumerateObject())
        {
            if (!members.TryAdd(member.Name, member.Value))
            {
                throw new FormatException($"{what} names '{member.Name}' twice.");
            }
        }
        return members;
    }

    internal static JsonElement Required(Dictionary<string, JsonElement> members, string name, string? what = null)
        => members.TryGetValue(name, out var value) ? value : throw new FormatException($"{(what is null ? "it" : what)} has no '{name}'.");

    internal static JsonElement[] Array(JsonElement value, string what)
        => value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().ToArray() : throw new FormatException($"{what} is a JSON {value.ValueKind}, not an array.");

    internal static string String(JsonElement value, string what)
        => value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new FormatException($"{what} is a JSON {value.ValueKind}, not a string.");

    private static long Int64(JsonElement value, string what)
        => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : throw new FormatException($"{what} is not a whole number.");

    /// <summary>Distinct strings: a name listed twice is refused.</summary>
    private static string[] Names(JsonElement value, string what)
    {
        var names = Array(value, what).Select(n => String(n, $"an entry of {what}")).ToArray();
        return names.Distinct(StringComparer.Ordinal).Count() == names.Length ? names : throw new FormatException($"{what} name an entry twice.");
    }

    internal static Dictionary<string, string?> NullableStrings(JsonElement value, string what)
        => Object(value, what).ToDictionary(e => e.Key, e => e.Value.ValueKind == JsonValueKind.Null ? null : String(e.Value, $"'{e.Key}' of {what}"), StringComparer.Ordinal);
}

/// <summary>An optimizer's state by parameter name: its kind (the TorchSharp class name), its groups and each parameter's state.</summary>
internal sealed record OptimizerSnapshot(string Kind, IReadOnlyList<OptimizerGroupSnapshot> Groups, IReadOnlyDictionary<string, ParameterStateSnapshot> States);

/// <summary>One parameter group: the names of its parameters and its hyper-parameters as invariant-culture text.</summary>
internal sealed record OptimizerGroupSnapshot(IReadOnlyList<string> Parameters, IReadOnlyDictionary<string, string?> Options);

/// <summary>One parameter's state: its scalar counters as text, and the names of its tensor fields stored as tensors of the file.</summary>
internal sealed record ParameterStateSnapshot(IReadOnlyDictionary<string, string?> Scalars, IReadOnlyList<string> Tensors);
