using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using CheckpointGen.Format;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Training;

/// <summary>
/// Reads and writes an optimizer's state by parameter name instead of position. It works on the public fields
/// TorchSharp's optimizers keep their state and hyper-parameters in (SGD, Adam, AdamW and the others built the same
/// way): scalars become text in an <see cref="OptimizerSnapshot"/>, per-parameter tensors become tensors of the file.
/// An optimizer whose state holds anything else is refused.
/// </summary>
internal static class OptimizerState
{
    private const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance;

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

    /// <summary>The optimizer's parameters, by name, in its own order; every one must be a trainable parameter of the model.</summary>
    public static List<(string Name, Parameter Parameter)> NamedParameters(optim.Optimizer optimizer, IEnumerable<(string Name, Parameter Parameter)> trainable, string modelType)
    {
        var names = trainable.GroupBy(p => p.Parameter.Handle).ToDictionary(g => g.Key, g => g.First().Name);
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

    /// <summary>The optimizer's state as a snapshot, and the tensors to store beside it (the optimizer's own, not copies).</summary>
    public static (OptimizerSnapshot Snapshot, List<KeyValuePair<string, Tensor>> Tensors) Capture(optim.Optimizer optimizer, List<(string Name, Parameter Parameter)> named)
    {
        var dictionary = ((OptimizerHelper)optimizer).state_dict();
        var groups = dictionary.StateIndexRef.Select((indices, group) => new OptimizerGroupSnapshot(
            indices.Select(i => named[i].Name).ToArray(),
            Values(dictionary.Options[group]))).ToArray();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var states = new Dictionary<string, ParameterStateSnapshot>(StringComparer.Ordinal);
        for (var i = 0; i < named.Count; i++)
        {
            var state = dictionary.State[i];
            var present = new List<string>();
            foreach (var field in TensorFields(state.GetType()))
            {
                if (field.GetValue(state) is Tensor tensor)
                {
                    tensors.Add(KeyValuePair.Create(TrainingSnapshot.TensorKey(named[i].Name, field.Name), tensor));
                    present.Add(field.Name);
                }
            }
            states[named[i].Name] = new ParameterStateSnapshot(Values(state), present);
        }
        return (new OptimizerSnapshot(optimizer.GetType().Name, groups, states), tensors);
    }

    /// <summary>
    /// Everything that disagrees between the recorded state and <paramref name="optimizer"/> goes into
    /// <paramref name="problems"/>; when nothing does, the result assigns the state and cannot fail on the way.
    /// </summary>
    public static OptimizerRestore? Plan(
        OptimizerSnapshot saved, optim.Optimizer optimizer, List<(string Name, Parameter Parameter)> named,
        IReadOnlyDictionary<string, TensorEntry> entries, string source, List<CheckpointProblem> problems)
    {
        if (saved.Kind != optimizer.GetType().Name)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "optimizer", optimizer.GetType().Name, saved.Kind));
            return null;
        }
        var count = problems.Count;
        var ours = named.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in ours.Where(n => !saved.States.ContainsKey(n)))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, name, "a parameter of the optimizer", "no state for it in the file"));
        }
        foreach (var name in saved.States.Keys.Where(n => !ours.Contains(n)))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, name, "not a parameter of the optimizer", "state for it in the file"));
        }

        var dictionary = ((OptimizerHelper)optimizer).state_dict();
        var assignments = new List<Assignment>();
        // Groups are matched as sets of names, in whatever order either side lists them.
        var unmatched = saved.Groups.ToList();
        for (var g = 0; g < dictionary.Options.Count; g++)
        {
            var names = dictionary.StateIndexRef[g].Select(i => named[i].Name).ToHashSet(StringComparer.Ordinal);
            var group = unmatched.FirstOrDefault(x => names.SetEquals(x.Parameters));
            if (group is null)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, $"parameter group {g}", Describe(names), "no group of the same parameters"));
                continue;
            }
            unmatched.Remove(group);
            assignments.AddRange(Assign(dictionary.Options[g], group.Options, $"options of parameter group {g}", source));
        }
        foreach (var group in unmatched)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "parameter group", "no group of the same parameters", Describe(group.Parameters)));
        }

        var tensors = new List<(object State, FieldInfo Field, string Key, Device Device)>();
        for (var i = 0; i < named.Count; i++)
        {
            var (name, parameter) = named[i];
            if (!saved.States.TryGetValue(name, out var recorded))
            {
                continue;
            }
            var state = dictionary.State[i];
            assignments.AddRange(Assign(state, recorded.Scalars, $"optimizer state of '{name}'", source));
            var fields = TensorFields(state.GetType()).ToDictionary(f => f.Name, StringComparer.Ordinal);
            foreach (var field in recorded.Tensors)
            {
                var key = TrainingSnapshot.TensorKey(name, field);
                if (!fields.ContainsKey(field))
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, key, $"{optimizer.GetType().Name} state", "a state field it does not have"));
                }
                else if (!entries.TryGetValue(key, out var entry))
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, key, TensorEntry.DescribeTensor(parameter.dtype, parameter.shape), "listed in the training state but not stored"));
                }
                else if (entry.Dtype != parameter.dtype || !entry.HasShape(parameter.shape))
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, key, TensorEntry.DescribeTensor(parameter.dtype, parameter.shape), entry.Describe()));
                }
            }
            foreach (var field in fields.Values)
            {
                var kept = field.GetValue(state) is Tensor;
                var stored = recorded.Tensors.Contains(field.Name);
                if (kept && !stored)
                {
                    // Restoring without it would drop state the optimizer relies on (Adam's moments).
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, TrainingSnapshot.TensorKey(name, field.Name), $"{optimizer.GetType().Name} state it keeps", "not stored"));
                }
                tensors.Add((state, field, stored ? TrainingSnapshot.TensorKey(name, field.Name) : "", parameter.device));
            }
        }
        return problems.Count > count ? null : new OptimizerRestore(assignments, tensors);
    }

    private static string Describe(IEnumerable<string> names) => "{" + string.Join(", ", names.Order(StringComparer.Ordinal).Select(n => $"'{n}'")) + "}";

    /// <summary>Scalar public fields and properties: the hyper-parameters of options, the counters of states.</summary>
    private static Dictionary<string, string?> Values(object target)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var member in Members(target.GetType()))
        {
            var value = member switch { FieldInfo f => f.GetValue(target), PropertyInfo p => p.GetValue(target), _ => null };
            values[member.Name] = value is null ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
        }
        return values;
    }

    /// <summary>
    /// The recorded values converted to what they are assigned to. A value the member cannot take, a member the file lacks,
    /// or a null where the optimizer has a value (the next step would fail on it) is a format error.
    /// </summary>
    private static IEnumerable<Assignment> Assign(object target, IReadOnlyDictionary<string, string?> values, string what, string source)
    {
        var members = Members(target.GetType()).ToList();
        foreach (var name in values.Keys.Where(n => members.All(m => m.Name != n)))
        {
            throw new CheckpointFormatException(source, $"the {what} records '{name}', which {target.GetType().Name} does not have.");
        }
        foreach (var member in members)
        {
            var type = MemberType(member);
            var current = member switch { FieldInfo f => f.GetValue(target), PropertyInfo p => p.GetValue(target), _ => null };
            if (!values.TryGetValue(member.Name, out var text))
            {
                if (current is null)
                {
                    continue;
                }
                throw new CheckpointFormatException(source, $"the {what} lacks '{member.Name}', which {target.GetType().Name} has.");
            }
            if (text is null)
            {
                if (current is not null)
                {
                    throw new CheckpointFormatException(source, $"the {what} records '{member.Name}' as null, where {target.GetType().Name} needs a value.");
                }
                yield return new Assignment(target, member, null);
                continue;
            }
            object value;
            try
            {
                // Numbers as the writer writes them: Convert's own parsing would read "1,5" as 15 (thousands separators).
                var plain = Nullable.GetUnderlyingType(type) ?? type;
                value = plain == typeof(double) ? double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
                    : plain == typeof(float) ? float.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
                    : plain == typeof(decimal) ? decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
                    : Convert.ChangeType(text, plain, CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
            {
                throw new CheckpointFormatException(source, $"the {what} records '{member.Name}' as '{text}', which is not a {(Nullable.GetUnderlyingType(type) ?? type).Name}.", e);
            }
            yield return new Assignment(target, member, value);
        }
    }

    private static IEnumerable<FieldInfo> TensorFields(Type state) => state.GetFields(Public).Where(f => f.FieldType == typeof(Tensor));

    private static Type MemberType(MemberInfo member) => member switch { FieldInfo f => f.FieldType, PropertyInfo p => p.PropertyType, _ => typeof(void) };

    private static IEnumerable<MemberInfo> Members(Type type)
        => type.GetFields(Public).Cast<MemberInfo>()
            .Concat(type.GetProperties(Public).Where(p => p.CanRead && p.CanWrite && p.GetIndexParameters().Length == 0))
            .Where(m => MemberType(m) is var t && (Nullable.GetUnderlyingType(t) ?? t) is var plain && (plain.IsPrimitive || plain == typeof(decimal)));

    /// <summary>One value to put into an optimizer's options or state.</summary>
    internal sealed record Assignment(object Target, MemberInfo Member, object? Value)
    {
        public void Apply()
        {
            if (Member is FieldInfo field)
            {
                field.SetValue(Target, Value);
            }
            else
            {
                ((PropertyInfo)Member).SetValue(Target, Value);
            }
        }
    }
}

/// <summary>A checked optimizer state, ready to assign: nothing in it can fail except moving tensors to the parameters' device.</summary>
internal sealed class OptimizerRestore(List<OptimizerState.Assignment> assignments, List<(object State, FieldInfo Field, string Key, Device Device)> tensors)
{
    /// <summary>Assigns every value; takes the tensors it uses out of <paramref name="staged"/>, which keeps the rest for its owner to dispose.</summary>
    public void Apply(Dictionary<string, Tensor> staged)
    {
        assignments.ForEach(a => a.Apply());
        foreach (var (state, field, key, device) in tensors)
        {
            (field.GetValue(state) as Tensor)?.Dispose();
            field.SetValue(state, !staged.Remove(key, out var tensor) ? null
                : tensor.device.Equals(device) ? tensor
                : tensor.to(device, disposeAfter: true));
        }
    }
}
