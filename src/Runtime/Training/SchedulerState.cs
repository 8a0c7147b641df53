using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using LRScheduler = TorchSharp.torch.optim.lr_scheduler.LRScheduler;

namespace CheckpointGen.Training;

/// <summary>
/// Reads and writes a learning-rate scheduler's state. TorchSharp's schedulers keep it in non-public fields (the base
/// class's epoch and step counters and per-group learning rates, each kind's own hyper-parameters), as PyTorch's keep it
/// in their <c>__dict__</c>; like PyTorch's <c>state_dict()</c>, every field is stored except the optimizer, and functions
/// (<c>LambdaLR</c>'s lambdas) are left as the code built them. Scalars and numeric lists become text in a
/// <see cref="SchedulerSnapshot"/>; a scheduler holding anything else (other schedulers, references into the optimizer)
/// is refused before anything is written or changed.
/// </summary>
internal static class SchedulerState
{
    private const BindingFlags Fields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    /// <summary>The base class's reference to the optimizer it drives: matched, never stored.</summary>
    private const string OptimizerField = "_optimizer";

    /// <summary>The scheduler's state; it must drive <paramref name="optimizer"/>, whose state is saved beside it.</summary>
    public static SchedulerSnapshot Capture(LRScheduler scheduler, optim.Optimizer? optimizer)
    {
        var fields = Stored(scheduler);
        RequireDrives(scheduler, optimizer);
        var scalars = new Dictionary<string, string?>(StringComparer.Ordinal);
        var lists = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            var value = field.GetValue(scheduler);
            if (ElementType(field.FieldType) is null)
            {
                scalars[field.Name] = value is null ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
            }
            else if (value is IEnumerable items)
            {
                lists[field.Name] = items.Cast<object>().Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)!).ToArray();
            }
            else
            {
                throw new NotSupportedException($"{scheduler.GetType().Name} holds null in its list '{field.Name}', which CheckpointGen cannot store.");
            }
        }
        return new SchedulerSnapshot(scheduler.GetType().Name, scalars, lists);
    }

    /// <summary>
    /// Everything that disagrees between the recorded state and <paramref name="scheduler"/> goes into
    /// <paramref name="problems"/>; when nothing does, the result assigns the state and cannot fail on the way.
    /// </summary>
    /// <param name="saved">The file's training state.</param>
    /// <param name="scheduler">The scheduler to fill.</param>
    /// <param name="optimizer">The optimizer being restored with it, which the scheduler must drive.</param>
    /// <param name="named">The optimizer's parameters by name.</param>
    /// <param name="source">The file, for messages.</param>
    /// <param name="problems">Where disagreements go.</param>
    /// <exception cref="NotSupportedException">The scheduler keeps state CheckpointGen cannot restore.</exception>
    /// <exception cref="CheckpointFormatException">A recorded value is not of its field's type.</exception>
    public static SchedulerRestore? Plan(
        TrainingSnapshot saved, LRScheduler scheduler, optim.Optimizer? optimizer, List<(string Name, Parameter Parameter)> named,
        string source, List<CheckpointProblem> problems)
    {
        var fields = Stored(scheduler);
        RequireDrives(scheduler, optimizer);
        var kind = scheduler.GetType().Name;
        if (saved.Scheduler is not { } recorded)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.SchedulerMismatch, "scheduler", kind, "no scheduler state"));
            return null;
        }
        if (recorded.Kind != kind)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.SchedulerMismatch, "scheduler", kind, recorded.Kind));
            return null;
        }
        var count = problems.Count;
        RequireSameGroupOrder(saved.Optimizer, optimizer, named, problems);

        var known = fields.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in recorded.Scalars.Keys.Concat(recorded.Lists.Keys).Where(n => !known.Contains(n)))
        {
            throw new CheckpointFormatException(source, $"the scheduler state records '{name}', which {kind} does not have.");
        }
        var assignments = new List<(FieldInfo Field, object? Value)>();
        foreach (var field in fields)
        {
            var what = $"scheduler field '{field.Name}' of {kind}";
            if (ElementType(field.FieldType) is { } element)
            {
                if (!recorded.Lists.TryGetValue(field.Name, out var texts))
                {
                    throw new CheckpointFormatException(source, $"the scheduler state lacks the list '{field.Name}', which {kind} has.");
                }
                var current = ((IEnumerable)field.GetValue(scheduler)!).Cast<object>().Count();
                if (texts.Count != current)
                {
                    // Per-group learning rates or milestones of another length: another optimizer or another schedule.
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.SchedulerMismatch, field.Name, Values(current), Values(texts.Count)));
                    continue;
                }
                var values = Array.CreateInstance(element, texts.Count);
                for (var i = 0; i < texts.Count; i++)
                {
                    values.SetValue(Parse(texts[i], element, what, source), i);
                }
                assignments.Add((field, field.FieldType.IsArray ? values : Activator.CreateInstance(typeof(List<>).MakeGenericType(element), values)));
            }
            else
            {
                if (!recorded.Scalars.TryGetValue(field.Name, out var text))
                {
                    throw new CheckpointFormatException(source, $"the scheduler state lacks '{field.Name}', which {kind} has.");
                }
                if (text is null && field.FieldType.IsValueType && Nullable.GetUnderlyingType(field.FieldType) is null)
                {
                    throw new CheckpointFormatException(source, $"the scheduler state records '{field.Name}' as null, where {kind} needs a value.");
                }
                assignments.Add((field, text is null ? null : Parse(text, Nullable.GetUnderlyingType(field.FieldType) ?? field.FieldType, what, source)));
            }
        }
        return problems.Count > count ? null : new SchedulerRestore(scheduler, assignments);
    }

    private static string Values(int count) => count == 1 ? "1 value" : $"{count} values";

    /// <summary>
    /// The fields to store, from the scheduler's own type down to <see cref="LRScheduler"/>. Functions are skipped: like
    /// PyTorch, a restore keeps the ones the code passed to the constructor.
    /// </summary>
    /// <exception cref="NotSupportedException">A field holds something else than numbers, text, enums and lists of numbers.</exception>
    private static List<FieldInfo> Stored(LRScheduler scheduler)
    {
        var fields = new List<FieldInfo>();
        for (var type = scheduler.GetType(); type is not null && type != typeof(object); type = type.BaseType)
        {
            fields.AddRange(type.GetFields(Fields).Where(f => f.Name != OptimizerField && !IsFunction(f.FieldType)));
        }
        var kind = scheduler.GetType().Name;
        var unsupported = fields.FirstOrDefault(f => !IsScalar(f.FieldType) && ElementType(f.FieldType) is null);
        if (unsupported is not null)
        {
            throw new NotSupportedException(
                $"{kind} keeps '{unsupported.Name}' ({unsupported.FieldType.Name}) in its state, which CheckpointGen cannot restore: " +
                "it stores schedulers whose state is numbers, text and lists of numbers (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, " +
                "LinearLR, ConstantLR, PolynomialLR, CyclicLR, LambdaLR, MultiplicativeLR, ReduceLROnPlateau), not ones holding other schedulers or parts of the optimizer.");
        }
        var twice = fields.GroupBy(f => f.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
        {
            throw new NotSupportedException($"{kind} has two fields named '{twice.Key}' in its class hierarchy, which CheckpointGen cannot tell apart.");
        }
        return fields;
    }

    /// <summary>The scheduler sets the learning rates of the optimizer saved with it; restoring one without the other would put a schedule on the wrong rates.</summary>
    private static void RequireDrives(LRScheduler scheduler, [NotNull] optim.Optimizer? optimizer)
    {
        var field = typeof(LRScheduler).GetField(OptimizerField, Fields)
            ?? throw new NotSupportedException($"This TorchSharp version's LRScheduler has no '{OptimizerField}' field: CheckpointGen cannot tell which optimizer {scheduler.GetType().Name} drives.");
        if (optimizer is null || !ReferenceEquals(field.GetValue(scheduler), optimizer))
        {
            throw new InvalidOperationException(
                $"TrainingState.Scheduler ({scheduler.GetType().Name}) must drive TrainingState.Optimizer: the learning rates it sets are saved and restored with that optimizer's state.");
        }
    }

    /// <summary>
    /// Per-group values (learning rates) follow the optimizer's group order; the optimizer's restore matches groups as sets,
    /// but a scheduler's lists are positional, so the groups must come in the order they were saved in.
    /// </summary>
    private static void RequireSameGroupOrder(OptimizerSnapshot? saved, optim.Optimizer optimizer, List<(string Name, Parameter Parameter)> named, List<CheckpointProblem> problems)
    {
        if (saved is null)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.SchedulerMismatch, "scheduler", "an optimizer state beside the scheduler's", "no optimizer state"));
            return;
        }
        var groups = ((OptimizerHelper)optimizer).state_dict().StateIndexRef.Select(indices => indices.Select(i => named[i].Name).ToHashSet(StringComparer.Ordinal)).ToList();
        var ordered = groups.Count == saved.Groups.Count && groups.Select((g, i) => g.SetEquals(saved.Groups[i].Parameters)).All(same => same);
        if (!ordered && groups.Count == saved.Groups.Count)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.SchedulerMismatch, "parameter group order", "the optimizer's groups in another order", "per-group values in the saved order"));
        }
    }

    private static object Parse(string text, Type type, string what, string source)
    {
        try
        {
            return type.IsEnum ? Enum.Parse(type, text, ignoreCase: false) : Convert.ChangeType(text, type, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException or ArgumentException)
        {
            throw new CheckpointFormatException(source, $"the {what} is recorded as '{text}', which is not a {type.Name}.", e);
        }
    }

    private static bool IsFunction(Type type) => typeof(Delegate).IsAssignableFrom(type) || (ElementOf(type) is { } element && typeof(Delegate).IsAssignableFrom(element));

    private static bool IsScalar(Type type)
    {
        var plain = Nullable.GetUnderlyingType(type) ?? type;
        return plain.IsPrimitive || plain.IsEnum || plain == typeof(decimal) || plain == typeof(string);
    }

    /// <summary>The element type of a list of numbers this can store and put back (an array, or a list or one of its interfaces), else null.</summary>
    private static Type? ElementType(Type type) => ElementOf(type) is { IsPrimitive: true } element
        && (type.IsArray || type.IsAssignableFrom(typeof(List<>).MakeGenericType(element))) ? element : null;

    private static Type? ElementOf(Type type)
        => type.IsArray ? type.GetElementType()
            : type.IsGenericType && type.GetGenericArguments() is [var element] && typeof(IEnumerable<>).MakeGenericType(element).IsAssignableFrom(type) ? element
            : null;
}

/// <summary>A checked scheduler state, ready to assign: nothing in it can fail.</summary>
internal sealed class SchedulerRestore(LRScheduler scheduler, List<(FieldInfo Field, object? Value)> assignments)
{
    public void Apply()
    {
        foreach (var (field, value) in assignments)
        {
            field.SetValue(scheduler, value);
        }
    }
}

/// <summary>A scheduler's state: its kind (the TorchSharp class name), its scalar fields and its lists of numbers, as invariant-culture text.</summary>
internal sealed record SchedulerSnapshot(string Kind, IReadOnlyDictionary<string, string?> Scalars, IReadOnlyDictionary<string, IReadOnlyList<string>> Lists)
{
    public JsonObject ToJson() => new()
    {
        ["kind"] = Kind,
        ["scalars"] = TrainingSnapshot.Strings(Scalars),
        ["lists"] = new JsonObject(Lists.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)new JsonArray(l.Value.Select(v => (JsonNode)v).ToArray())))),
    };

    /// <summary>The <c>scheduler</c> member of a training state; malformed input throws <see cref="FormatException"/>, which <see cref="TrainingSnapshot.Read"/> reports.</summary>
    public static SchedulerSnapshot Read(JsonElement value)
    {
        const string What = "'scheduler'";
        var scheduler = TrainingSnapshot.Object(value, What);
        return new SchedulerSnapshot(
            TrainingSnapshot.String(TrainingSnapshot.Required(scheduler, "kind", What), "the kind of the scheduler"),
            TrainingSnapshot.NullableStrings(TrainingSnapshot.Required(scheduler, "scalars", What), "the scalars of the scheduler"),
            TrainingSnapshot.Object(TrainingSnapshot.Required(scheduler, "lists", What), "the lists of the scheduler").ToDictionary(
                l => l.Key,
                l => (IReadOnlyList<string>)TrainingSnapshot.Array(l.Value, $"the scheduler's list '{l.Key}'").Select(v => TrainingSnapshot.String(v, $"an entry of the scheduler's list '{l.Key}'")).ToArray(),
                StringComparer.Ordinal));
    }
}
