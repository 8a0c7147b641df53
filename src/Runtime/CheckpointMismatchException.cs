using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using CheckpointGen.Format;

namespace CheckpointGen;

/// <summary>What kind of disagreement between a file and a model a <see cref="CheckpointProblem"/> describes.</summary>
public enum CheckpointProblemKind
{
    /// <summary>The model has the key; the file does not.</summary>
    MissingKey,
    /// <summary>The file has the key; the model does not (or the options refuse pretrained keys).</summary>
    UnexpectedKey,
    /// <summary>Both have the key with different shapes.</summary>
    ShapeMismatch,
    /// <summary>Both have the key with different element types.</summary>
    DtypeMismatch,
    /// <summary>The pretrained part recorded in the file has another structure (keys, dtypes, shapes) than the model's.</summary>
    FingerprintMismatch,
    /// <summary>The pretrained part recorded in the file has the same structure as the model's but other weights.</summary>
    PretrainedWeightsMismatch,
    /// <summary>The optimizer's state in the file does not fit the optimizer: another kind, other parameters, other shapes.</summary>
    OptimizerMismatch,
    /// <summary>The learning-rate scheduler's state in the file does not fit the scheduler: another kind, other groups, another schedule's lists.</summary>
    SchedulerMismatch,
    /// <summary>A PEFT adapter config describes other LoRA adapters (layers, rank, alpha, dropout) than the model has.</summary>
    AdapterConfigMismatch,
}

/// <summary>One disagreement between a file and a model.</summary>
/// <param name="Kind">What disagrees.</param>
/// <param name="Key">The state-dict key, or the pretrained prefix for a fingerprint.</param>
/// <param name="Expected">What the model has, or <see langword="null"/> when it has nothing.</param>
/// <param name="Found">What the file has, or <see langword="null"/> when it has nothing.</param>
/// <param name="Hint">The likely cause and what to do, where one can be told.</param>
public sealed record CheckpointProblem(CheckpointProblemKind Kind, string Key, string? Expected, string? Found, string? Hint = null)
{
    /// <inheritdoc/>
    public override string ToString() => Hint is null ? Describe() : $"{Describe()}. {Hint}";

    private string Describe() => Kind switch
    {
        CheckpointProblemKind.MissingKey => $"missing key {Fragment.Quote(Key)} (model has {Expected})",
        CheckpointProblemKind.UnexpectedKey => $"unexpected key {Fragment.Quote(Key)} (file has {Found})",
        CheckpointProblemKind.ShapeMismatch => $"shape mismatch for {Fragment.Quote(Key)}: model has {Expected}, file has {Found}",
        CheckpointProblemKind.DtypeMismatch => $"dtype mismatch for {Fragment.Quote(Key)}: model has {Expected}, file has {Found}",
        CheckpointProblemKind.OptimizerMismatch => $"optimizer state for {Fragment.Quote(Key)}: the optimizer has {Expected}, the file has {Found}",
        CheckpointProblemKind.PretrainedWeightsMismatch => $"pretrained part '{Key}' holds other weights than the checkpoint was saved with: model {Expected}, file {Found}",
        CheckpointProblemKind.SchedulerMismatch => $"scheduler state for {Fragment.Quote(Key)}: the scheduler has {Expected}, the file has {Found}",
        CheckpointProblemKind.AdapterConfigMismatch => $"LoRA adapter config for {Fragment.Quote(Key)}: the model has {Expected}, the config has {Found}",
        _ => $"pretrained part '{Key}' differs from the one the checkpoint was saved with: model {Expected}, file {Found}",
    };
}

/// <summary>
/// The file is a valid checkpoint but does not fit the model. Every problem is listed; the model was not changed.
/// </summary>
public sealed class CheckpointMismatchException : Exception
{
    /// <summary>Creates the exception for <paramref name="source"/> and the <paramref name="problems"/> found.</summary>
    public CheckpointMismatchException(string source, string target, IReadOnlyList<CheckpointProblem> problems)
        : this(source, target, problems, hint: null)
    {
    }

    /// <summary>Creates the exception for <paramref name="source"/> and the <paramref name="problems"/> found, with what would fix them all.</summary>
    public CheckpointMismatchException(string source, string target, IReadOnlyList<CheckpointProblem> problems, string? hint)
        : base(Describe(source, target, problems, hint))
    {
        Source = source;
        Target = target;
        Problems = problems;
        Hint = hint;
    }

    /// <summary>
    /// What most likely causes or fixes every problem at once (a <see cref="PretrainedAttribute.KeyPrefix"/> to set, a
    /// checkpoint saved from another model type), or <see langword="null"/>.
    /// </summary>
    public string? Hint { get; }

    /// <summary>The file (or stream description) that was read.</summary>
    public new string Source { get; }

    /// <summary>What it was loaded into (a model type, or a pretrained field).</summary>
    public string Target { get; }

    /// <summary>Every disagreement found.</summary>
    public IReadOnlyList<CheckpointProblem> Problems { get; }

    /// <summary>Keys of the model the file lacks.</summary>
    public IEnumerable<string> MissingKeys => KeysOf(CheckpointProblemKind.MissingKey);

    /// <summary>Keys of the file the model does not take.</summary>
    public IEnumerable<string> UnexpectedKeys => KeysOf(CheckpointProblemKind.UnexpectedKey);

    private IEnumerable<string> KeysOf(CheckpointProblemKind kind) => Problems.Where(p => p.Kind == kind).Select(p => p.Key);

    private static string Describe(string source, string target, IReadOnlyList<CheckpointProblem> problems, string? hint)
    {
        var text = new StringBuilder($"'{source}' does not fit {target}: {problems.Count} problem{(problems.Count == 1 ? "" : "s")}");
        if (hint is not null)
        {
            text.Append(". ").Append(hint);
        }
        foreach (var problem in problems)
        {
            text.Append(Environment.NewLine).Append("  - ").Append(problem);
        }
        return text.ToString();
    }
}
