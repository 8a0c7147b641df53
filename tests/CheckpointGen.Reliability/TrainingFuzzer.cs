using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;

namespace CheckpointGen.Reliability;

/// <summary>
/// Mutations of a checkpoint's training state: its JSON (step, epoch, metadata, the optimizer's kind, groups, options,
/// per-parameter scalars and tensor names, and the JSON itself) and the optimizer's tensors in the tensor table. Each
/// mutated file is loaded with a training state into a model and optimizer trained otherwise; both are compared after
/// each case: a refusal must change nothing, a load that succeeds must give exactly the state the file holds.
/// </summary>
public static class TrainingFuzzer
{
    public static FamilyReport Run(int cases, int seed, string folder)
    {
        var report = new FamilyReport("training");
        var random = new Random(seed);
        var path = Path.Combine(folder, "training.safetensors");
        using var fixture = new TrainedFixture(seed);
        for (var i = 0; i < cases; i++)
        {
            var (header, data) = CheckpointBytes.Split(fixture.Checkpoint);
            var metadata = header["__metadata__"]!.AsObject();
            string mutation;
            if (random.Next(4) == 0)
            {
                mutation = MutateOptimizerTensor(header, random);
            }
            else
            {
                metadata["checkpointgen.training"] = MutateJson((string)metadata["checkpointgen.training"]!, random, out mutation);
            }
            var content = CheckpointBytes.Join(header, data, reseal: true);
            File.WriteAllBytes(path, content);
            HeaderFuzzer.Load(report, fixture, path, content, TrainedFixture.NewTraining(fixture.Optimizer), $"case {i} ({mutation})");
        }
        return report.Finish();
    }

    /// <summary>One structure-aware change to a training state's JSON; <paramref name="how"/> says which.</summary>
    public static string MutateJson(string json, Random random, out string how)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var groups = root["groups"]!.AsArray();
        var states = root["states"]!.AsObject();
        var group = groups[random.Next(groups.Count)]!.AsObject();
        var parameters = group["parameters"]!.AsArray();
        var options = group["options"]!.AsObject();
        var state = states.ElementAt(random.Next(states.Count));
        var stateObject = state.Value!.AsObject();
        var scalars = stateObject["scalars"]!.AsObject();
        var tensors = stateObject["tensors"]!.AsArray();
        JsonNode?[] odd = [null, -1, 1.5, "3", "", new JsonArray(), new JsonObject(), true, long.MaxValue, 9.3e18, 1e300];
        JsonNode? Odd() => odd[random.Next(odd.Length)]?.DeepClone();
        string[] parameterNames = ["head.weight", "head.bias", "norm.weight", "norm.bias", "encoder.0.weight", "nothing", "", "head.weight "];
        string Parameter() => parameterNames[random.Next(parameterNames.Length)];
        switch (random.Next(20))
        {
            case 0:
                var field = new[] { "step", "epoch" }[random.Next(2)];
                JsonNode?[] counts = [0, 4, -5, int.MaxValue, (long)int.MaxValue + 1, long.MaxValue, "4", 4.5, null];
                var count = counts[random.Next(counts.Length)]?.DeepClone();
                root[field] = count;
                how = $"{field} = {count?.ToJsonString() ?? "null"}";
                break;
            case 1:
                var removed = new[] { "step", "epoch", "metadata", "optimizer", "groups", "states" }[random.Next(6)];
                root.Remove(removed);
                how = $"'{removed}' removed";
                break;
            case 2:
                var metadata = root["metadata"]!.AsObject();
                var value = random.Next(3) == 0 ? Odd() : JsonValue.Create("value " + random.Next(100));
                metadata[random.Next(2) == 0 ? "loader" : "added"] = value;
                how = $"metadata entry = {value?.ToJsonString() ?? "null"}";
                break;
            case 3:
                string[] kinds = ["SGD", "AdamW", "adam", "", "Adam "];
                var kind = random.Next(3) == 0 ? Odd() : JsonValue.Create(kinds[random.Next(kinds.Length)]);
                root["optimizer"] = kind;
                how = $"optimizer = {kind?.ToJsonString() ?? "null"}";
                break;
            case 4:
                groups.RemoveAt(groups.IndexOf(group));
                how = "a group removed";
                break;
            case 5:
                groups.Add(group.DeepClone());
                how = "a group duplicated";
                break;
            case 6:
                var moved = parameters[random.Next(parameters.Count)]!;
                parameters.Remove(moved);
                groups[(groups.IndexOf(group) + 1) % groups.Count]!["parameters"]!.AsArray().Add(moved.DeepClone());
                how = $"parameter {moved.ToJsonString()} moved to another group";
                break;
            case 7:
                var parameter = Parameter();
                parameters.Add(parameter);
                how = $"parameter '{parameter}' added to a group";
                break;
            case 8:
                parameters.RemoveAt(random.Next(parameters.Count));
                how = "a parameter removed from a group";
                break;
            case 9:
                var reordered = parameters.Select(p => p!.DeepClone()).Reverse().ToArray();
                parameters.Clear();
                reordered.ToList().ForEach(parameters.Add);
                how = "a group's parameters reordered";
                break;
            case 10:
                var option = options.ElementAt(random.Next(options.Count)).Key;
                string?[] texts = ["0.02", "1e-3", "0.0100", "-1", "NaN", "Infinity", "abc", "", null, "1,5", "0x10", "True", "(0.9, 0.999)"];
                var text = random.Next(4) == 0 ? Odd() : JsonValue.Create(texts[random.Next(texts.Length)]);
                options[option] = text;
                how = $"option '{option}' = {text?.ToJsonString() ?? "null"}";
                break;
            case 11:
                var dropped = options.ElementAt(random.Next(options.Count)).Key;
                options.Remove(dropped);
                how = $"option '{dropped}' removed";
                break;
            case 12:
                options["momentum_of_nothing"] = "0.5";
                how = "an unknown option added";
                break;
            case 13:
                states.Remove(state.Key);
                how = $"the state of '{state.Key}' removed";
                break;
            case 14:
                var target = Parameter();
                states[target] = stateObject.DeepClone();
                how = $"a state for '{target}'";
                break;
            case 15 when scalars.Count > 0:
                var scalar = scalars.ElementAt(random.Next(scalars.Count)).Key;
                string?[] steps = ["4", "0", "-1", "3.5", "", "x", null, "9999999999999999999999"];
                var step = random.Next(4) == 0 ? Odd() : JsonValue.Create(steps[random.Next(steps.Length)]);
                scalars[scalar] = step;
                how = $"scalar '{scalar}' of '{state.Key}' = {step?.ToJsonString() ?? "null"}";
                break;
            case 16:
                if (random.Next(2) == 0)
                {
                    scalars["bogus"] = "1";
                    how = $"an unknown scalar for '{state.Key}'";
                }
                else
                {
                    scalars.Remove(scalars.Select(s => s.Key).FirstOrDefault() ?? "step");
                    how = $"a scalar of '{state.Key}' removed";
                }
                break;
            case 17:
                string[] fields = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "", "exp_avg/x"];
                var tensor = fields[random.Next(fields.Length)];
                if (random.Next(2) == 0 && tensors.Count > 0)
                {
                    tensors.RemoveAt(random.Next(tensors.Count));
                    how = $"a tensor name of '{state.Key}' removed";
                }
                else
                {
                    tensors.Add(tensor);
                    how = $"tensor name '{tensor}' added to '{state.Key}'";
                }
                break;
            case 18:
                var node = new[] { "groups", "states", "metadata" }[random.Next(3)];
                var replacement = Odd();
                root[node] = replacement;
                how = $"'{node}' = {replacement?.ToJsonString() ?? "null"}";
                break;
            default:
                var whole = root.ToJsonString();
                string[] texts2 = [whole[..random.Next(whole.Length)], whole + "}", whole.Replace("\"step\"", "\"step\":1,\"step\"", StringComparison.Ordinal), new string('[', 10000), "null", "[]", "\"x\"", whole.Replace(":", ": ", StringComparison.Ordinal)];
                var pick = random.Next(texts2.Length);
                how = $"the JSON text, variant {pick}";
                return texts2[pick];
        }
        return root.ToJsonString();
    }

    /// <summary>One change to an optimizer tensor's table entry: renamed, removed, retyped, reshaped.</summary>
    private static string MutateOptimizerTensor(JsonObject header, Random random)
    {
        var keys = header.Select(e => e.Key).Where(k => k.StartsWith("checkpointgen.optimizer/", StringComparison.Ordinal)).ToArray();
        var key = keys[random.Next(keys.Length)];
        var entry = header[key]!.AsObject();
        switch (random.Next(5))
        {
            case 0:
                var renamed = random.Next(2) == 0 ? key.Replace("exp_avg", "exp_avg_sq", StringComparison.Ordinal) : key + "x";
                header.Remove(key);
                header[renamed] = entry;
                return $"optimizer tensor '{key}' renamed '{renamed}'";
            case 1:
                header.Remove(key);
                return $"optimizer tensor '{key}' removed";
            case 2:
                entry["dtype"] = random.Next(2) == 0 ? "F64" : "I32";
                return $"optimizer tensor '{key}' retyped";
            case 3:
                var shape = entry["shape"]!.AsArray();
                entry["shape"] = new JsonArray([.. shape.Reverse().Select(d => d!.DeepClone())]);
                return $"optimizer tensor '{key}' shape reversed";
            default:
                var other = keys[random.Next(keys.Length)];
                (header[key], header[other]) = (header[other]!.DeepClone(), entry.DeepClone());
                return $"optimizer tensors '{key}' and '{other}' swapped";
        }
    }
}
