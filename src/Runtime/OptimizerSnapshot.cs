using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using CheckpointGen.Format;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen;

/// <summary>
/// An optimizer's state keyed by parameter name instead of position: each per-parameter tensor is stored as a tensor
/// of the checkpoint (<c>checkpointgen.optimizer/{parameter}/{field}</c>), everything else as JSON in the metadata. It
/// reads the public fields TorchSharp's optimizers keep their state and hyper-parameters in (SGD, Adam, AdamW and the
/// others built the same way); an optimizer whose state holds anything else is refused.
/// </summary>
internal static class OptimizerSnapshot
{
    /// <summary>The key prefix of optimizer tensors: never a module key, and skipped by a weights-only load.</summary>
    public const string KeyPrefix = "checkpointgen.optimizer/";

    /// <summary>The metadata entry with the optimizer's kind, groups, hyper-parameters and scalar state, and the run's progress.</summary>
    public const string MetadataKey = "checkpointgen.training";

    private const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance;

    /// <summary>The optimizer's parameters, by name, in its own order; every one must be a trainable parameter of the model.</summary>
    public static List<(string Name, Parameter Parameter)> NamedParameters(optim.Optimizer optimizer, IEnumerable<(string name, Parameter parameter)> trainable, string modelType)
    {
        var names = trainable.GroupBy(p => p.parameter.Handle).ToDictionary(g => g.Key, g => g.First().name);
        var named = new List<(string, Parameter)>();
        foreach (var parameter in optimizer.parameters())
        {
            if (!names.TryGetValue(parameter.Handle, out var name))
            {
                throw new InvalidOperationException(
                    $"The optimizer holds a parameter of shape [{string.Join(", ", parameter.shape)}] that is not a trainable parameter of {modelType}: " +
                    "its state could not be named. Build the optimizer over TrainableParameters().");
            }
            named.Add((name, parameter));
        }
        return named;
    }

    /// <summary>The tensors and the JSON to save.</summary>
    public static (List<KeyValuePair<string, Tensor>> Tensors, string Json) Capture(TrainingState training, List<(string Name, Parameter Parameter)> named)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var json = new JsonObject
        {
            ["step"] = training.Step,
            ["epoch"] = training.Epoch,
            ["metadata"] = new JsonObject(training.Metadata.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value))),
        };
        if (training.Optimizer is { } optimizer)
        {
            var dictionary = ((OptimizerHelper)optimizer).state_dict();
            json["optimizer"] = optimizer.GetType().Name;
            json["groups"] = new JsonArray(dictionary.StateIndexRef.Select((indices, group) => (JsonNode)new JsonObject
            {
                ["parameters"] = new JsonArray(indices.Select(i => (JsonNode)named[i].Name).ToArray()),
                ["options"] = Values(dictionary.Options[group]),
            }).ToArray());
            var states = new JsonObject();
            for (var i = 0; i < named.Count; i++)
            {
                var state = dictionary.State[i];
                var scalars = Values(state);
                var present = new JsonArray();
                foreach (var field in state.GetType().GetFields(Public).Where(f => f.FieldType == typeof(Tensor)))
                {
                    if (field.GetValue(state) is Tensor tensor)
                    {
                        tensors.Add(KeyValuePair.Create($"{KeyPrefix}{named[i].Name}/{field.Name}", tensor));
                        present.Add(field.Name);
                    }
                }
                states[named[i].Name] = new JsonObject { ["scalars"] = scalars, ["tensors"] = present };
            }
            json["states"] = states;
        }
        return (tensors, json.ToJsonString());
    }

    /// <summary>Everything that disagrees between the file's optimizer state and <paramref name="optimizer"/>, named.</summary>
    public static List<CheckpointProblem> Check(JsonObject saved, optim.Optimizer optimizer, List<(string Name, Parameter Parameter)> named, IReadOnlyDictionary<string, TensorEntry> entries)
    {
        var problems = new List<CheckpointProblem>();
        var kind = (string?)saved["optimizer"];
        if (kind is null)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "optimizer", optimizer.GetType().Name, "no optimizer state"));
            return problems;
        }
        if (kind != optimizer.GetType().Name)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "optimizer", optimizer.GetType().Name, kind));
            return problems;
        }
        var states = saved["states"]!.AsObject();
        var ours = named.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in ours.Where(n => !states.ContainsKey(n)))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, name, "a parameter of the optimizer", "no state for it in the file"));
        }
        foreach (var (name, _) in states.Where(s => !ours.Contains(s.Key)))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, name, "not a parameter of the optimizer", "state for it in the file"));
        }
        var dictionary = ((OptimizerHelper)optimizer).state_dict();
        var groups = saved["groups"]!.AsArray();
        // Groups are matched by the names they hold, in whatever order the optimizer lists them.
        var ourGroups = dictionary.StateIndexRef.Select(indices => string.Join(", ", indices.Select(i => named[i].Name).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal).ToArray();
        var theirGroups = groups.Select(g => string.Join(", ", g!["parameters"]!.AsArray().Select(n => (string)n!).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal).ToArray();
        if (!ourGroups.SequenceEqual(theirGroups))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "parameter groups", string.Join(" | ", ourGroups), string.Join(" | ", theirGroups)));
        }
        for (var i = 0; i < named.Count; i++)
        {
            if (states[named[i].Name] is not JsonObject state)
            {
                continue;
            }
            foreach (var field in state["tensors"]!.AsArray().Select(f => (string)f!))
            {
                var key = $"{KeyPrefix}{named[i].Name}/{field}";
                var target = dictionary.State[i].GetType().GetField(field, Public);
                var parameter = named[i].Parameter;
                if (target?.FieldType != typeof(Tensor) || !entries.TryGetValue(key, out var entry))
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, key, $"{optimizer.GetType().Name} state", "a state field it does not have"));
                }
                else if (entry.Dtype != parameter.dtype || !entry.HasShape(parameter.shape))
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, key, TensorEntry.DescribeTensor(parameter.dtype, parameter.shape), entry.Describe()));
                }
            }
        }
        return problems;
    }

    /// <summary>Puts the checked state into the optimizer: hyper-parameters per group, scalars and tensors per parameter.</summary>
    public static void Restore(JsonObject saved, optim.Optimizer optimizer, List<(string Name, Parameter Parameter)> named, Dictionary<string, Tensor> staged)
    {
        var dictionary = ((OptimizerHelper)optimizer).state_dict();
        var groups = saved["groups"]!.AsArray();
        for (var g = 0; g < dictionary.Options.Count; g++)
        {
            var names = dictionary.StateIndexRef[g].Select(i => named[i].Name).ToHashSet(StringComparer.Ordinal);
            var group = groups.First(x => names.SetEquals(x!["parameters"]!.AsArray().Select(n => (string)n!)))!;
            Assign(dictionary.Options[g], group["options"]!.AsObject());
        }
        var states = saved["states"]!.AsObject();
        for (var i = 0; i < named.Count; i++)
        {
            var state = dictionary.State[i];
            Assign(state, states[named[i].Name]!.AsObject()["scalars"]!.AsObject());
            foreach (var field in state.GetType().GetFields(Public).Where(f => f.FieldType == typeof(Tensor)))
            {
                var key = $"{KeyPrefix}{named[i].Name}/{field.Name}";
                (field.GetValue(state) as Tensor)?.Dispose();
                var device = named[i].Parameter.device;
                // Taken out of the staged set, so the caller's cleanup does not dispose what the optimizer now holds.
                field.SetValue(state, !staged.Remove(key, out var tensor) ? null
                    : tensor.device.Equals(device) ? tensor
                    : tensor.to(device, disposeAfter: true));
            }
        }
    }

    /// <summary>Scalar public fields and properties: the hyper-parameters of options, the counters of states.</summary>
    private static JsonObject Values(object target)
    {
        var values = new JsonObject();
        foreach (var member in Members(target.GetType()))
        {
            var value = member switch { FieldInfo f => f.GetValue(target), PropertyInfo p => p.GetValue(target), _ => null };
            values[member.Name] = value is null ? null : JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture));
        }
        return values;
    }

    private static void Assign(object target, JsonObject values)
    {
        foreach (var member in Members(target.GetType()))
        {
            if (!values.TryGetPropertyValue(member.Name, out var node))
            {
                continue;
            }
            var type = member switch { FieldInfo f => f.FieldType, PropertyInfo p => p.PropertyType, _ => typeof(void) };
            var plain = Nullable.GetUnderlyingType(type) ?? type;
            var value = node is null ? null : Convert.ChangeType((string)node!, plain, CultureInfo.InvariantCulture);
            if (member is FieldInfo field)
            {
                field.SetValue(target, value);
            }
            else
            {
                ((PropertyInfo)member).SetValue(target, value);
            }
        }
    }

    private static IEnumerable<MemberInfo> Members(Type type)
        => type.GetFields(Public).Cast<MemberInfo>()
            .Concat(type.GetProperties(Public).Where(p => p.CanRead && p.CanWrite && p.GetIndexParameters().Length == 0))
            .Where(m => (m switch { FieldInfo f => f.FieldType, PropertyInfo p => p.PropertyType, _ => typeof(void) }) is var t
                && (Nullable.GetUnderlyingType(t) ?? t) is var plain && (plain.IsPrimitive || plain == typeof(decimal)));

    /// <summary>An optimizer whose state holds what this cannot store (lists, nested objects) is refused rather than saved in part.</summary>
    public static void RequireSupported(optim.Optimizer optimizer)
    {
        if (optimizer is not OptimizerHelper helper)
        {
            throw new NotSupportedException($"{optimizer.GetType().Name} keeps its state in native code; CheckpointGen cannot store it by parameter name.");
        }
        foreach (var state in helper.state_dict().State.Select(s => s.GetType()).Distinct())
        {
            var unsupported = state.GetFields(Public).FirstOrDefault(f => f.FieldType != typeof(Tensor) && !Members(state).Contains(f));
            if (unsupported is not null)
            {
                throw new NotSupportedException($"{optimizer.GetType().Name} keeps '{unsupported.Name}' ({unsupported.FieldType.Name}) in its state, which CheckpointGen cannot store by parameter name.");
            }
        }
    }

    /// <summary>
    /// The training state in the metadata, checked in full (every value that will be assigned parses as what it goes
    /// into), so that nothing can fail once the model and optimizer start to change.
    /// </summary>
    public static JsonObject? Read(IReadOnlyDictionary<string, string> metadata, string source, optim.Optimizer? optimizer)
    {
        if (!metadata.TryGetValue(MetadataKey, out var json))
        {
            return null;
        }
        try
        {
            var saved = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidOperationException("it is null");
            _ = (long?)saved["step"];
            _ = (int?)saved["epoch"];
            _ = saved["metadata"]?.AsObject().Select(e => (string?)e.Value).ToArray();
            if (optimizer is OptimizerHelper helper && saved["optimizer"] is not null)
            {
                var dictionary = helper.state_dict();
                foreach (var group in saved["groups"]!.AsArray())
                {
                    _ = group!["parameters"]!.AsArray().Select(n => (string)n!).ToArray();
                    Parse(dictionary.Options[0].GetType(), group["options"]!.AsObject());
                }
                foreach (var (_, state) in saved["states"]!.AsObject())
                {
                    Parse(dictionary.State.FirstOrDefault()?.GetType() ?? typeof(object), state!["scalars"]!.AsObject());
                    _ = state["tensors"]!.AsArray().Select(f => (string)f!).ToArray();
                }
            }
            return saved;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or InvalidCastException or OverflowException)
        {
            throw new CheckpointFormatException(source, $"'{MetadataKey}' is not a valid training state ({e.Message}).", e);
        }
    }

    /// <summary>Converts every value the way <see cref="Assign"/> will, without assigning.</summary>
    private static void Parse(Type type, JsonObject values)
    {
        foreach (var member in Members(type))
        {
            if (values.TryGetPropertyValue(member.Name, out var node) && node is not null)
            {
                var target = member switch { FieldInfo f => f.FieldType, PropertyInfo p => p.PropertyType, _ => typeof(void) };
                _ = Convert.ChangeType((string)node!, Nullable.GetUnderlyingType(target) ?? target, CultureInfo.InvariantCulture);
            }
        }
    }
}
