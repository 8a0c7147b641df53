using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Format;
using CheckpointGen.Parts;
using CheckpointGen.Training;
using static TorchSharp.torch;

namespace CheckpointGen.Loading;

/// <summary>
/// Turns a checkpoint into a <see cref="CheckpointLoadPlan"/>: reads the header, matches every key, shape and dtype,
/// compares the pretrained fingerprints and the training state, reads the data and verifies its checksum. It never
/// touches the model or the optimizer; whatever it refuses, they stay as they were.
/// </summary>
internal static class CheckpointReader
{
    /// <param name="policy">The model the checkpoint is for.</param>
    /// <param name="stream">Positioned at the checkpoint's first byte.</param>
    /// <param name="source">The file or stream, for messages.</param>
    /// <param name="wholeFile">The checkpoint fills the stream to its end (a file); otherwise it is read up to its own end and the stream left there.</param>
    /// <param name="training">The training state to fill, or <see langword="null"/> for the weights only.</param>
    /// <param name="options">What to accept.</param>
    public static CheckpointLoadPlan Plan(CheckpointPolicy policy, Stream stream, string source, bool wholeFile, TrainingState? training, CheckpointLoadOptions options)
    {
        // The data is read once everything below has passed. The header is read meanwhile by the thread that reads the
        // data with this one, where a file is read on two threads, while the model is examined here.
        var origin = stream.CanSeek ? stream.Position : 0;
        var length = wholeFile ? stream.Length - origin : (long?)null;
        var header = SecondThreadTask<TensorFileIndex>.Start(
            () =>
            {
                var index = Safetensors.ReadIndex(stream, source, length);
                CheckpointMetadata.RequireCheckpointGenEntries(index);
                return index;
            },
            offer: TensorFiles.ReadsInParallel(stream),
            readFollows: true);
        Dictionary<string, Tensor> state;
        PretrainedParts parts;
        (string Structure, string Content)[] fingerprints;
        try
        {
            state = policy.Model.state_dict();
            parts = policy.PartsOf(state);
            // While the pretrained weights are unchanged (PyTorch's version counters say so, a microsecond per tensor), their
            // fingerprints are remembered: taken here, they cost less than handing them to another thread would.
            fingerprints = options.VerifyPretrainedFingerprints ? parts.All.Select(part => PretrainedContent.Of(part, state)).ToArray() : [];
        }
        catch
        {
            // The model's problem is the one reported; the stream is not closed under the header's reading.
            header.Forget();
            throw;
        }
        var index = header.Join();
        return Plan(policy, stream, source, training, options, origin, index, state, parts, fingerprints);
    }

    private static CheckpointLoadPlan Plan(
        CheckpointPolicy policy, Stream stream, string source, TrainingState? training, CheckpointLoadOptions options, long origin,
        TensorFileIndex index, Dictionary<string, Tensor> state, PretrainedParts parts, (string Structure, string Content)[] modelFingerprints)
    {
        var matcher = new StateMatcher(state);
        var problems = matcher.Problems;
        var weights = new List<TensorEntry>();
        var skipped = new List<string>();
        var optimizerEntries = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var entry in index.Entries)
        {
            if (entry.Key.StartsWith(TrainingSnapshot.TensorKeyPrefix, StringComparison.Ordinal))
            {
                // Training state: restored only when asked for; a weights-only load passes over it.
                optimizerEntries.Add(entry.Key, entry);
            }
            // A pretrained key the model has (an old full checkpoint) is passed over; one it lacks (an adapter the model
            // was saved with, and this one has not) is unexpected, as outside the parts.
            else if (policy.IsPretrained(entry.Key) && state.ContainsKey(entry.Key))
            {
                if (options.SkipPretrainedKeys)
                {
                    skipped.Add(entry.Key);
                }
                else
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.UnexpectedKey, entry.Key, null, entry.Describe()));
                }
            }
            else if (matcher.Match(entry, entry.Key))
            {
                weights.Add(entry);
            }
        }
        matcher.AddMissing(index.Entries.Select(e => e.Key).ToHashSet(StringComparer.Ordinal), key => !policy.IsPretrained(key));
        var fingerprintsAt = problems.Count;

        // A weights-only load passes over the training state, as it passes over the optimizer's tensors.
        var snapshot = training is null ? null : TrainingSnapshot.Read(index.Metadata, source);
        OptimizerRestore? restore = null;
        SchedulerRestore? schedulerRestore = null;
        if (training is not null)
        {
            if (snapshot is null)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "training state", "a training state to fill", "none saved"));
            }
            else if (training.Optimizer is { } optimizer)
            {
                OptimizerState.RequireSupported(optimizer);
                var named = OptimizerState.NamedParameters(optimizer, policy.TrainableNamedParameters(), policy.ModelType);
                if (snapshot.Optimizer is null)
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "optimizer", optimizer.GetType().Name, "no optimizer state"));
                }
                else
                {
                    restore = OptimizerState.Plan(snapshot.Optimizer, optimizer, named, optimizerEntries, source, problems);
                }
                if (training.Scheduler is { } scheduler)
                {
                    schedulerRestore = SchedulerState.Plan(snapshot, scheduler, optimizer, named, source, problems);
                }
            }
            else if (training.Scheduler is { } scheduler)
            {
                // A scheduler without its optimizer: refused there, with the reason.
                SchedulerState.Plan(snapshot, scheduler, optimizer: null, [], source, problems);
            }
        }
        // One message names every problem, in the order the checks run.
        var fingerprintProblems = new List<CheckpointProblem>();
        var fingerprints = CompareFingerprints(parts, modelFingerprints, index.Metadata, options, fingerprintProblems);
        problems.InsertRange(fingerprintsAt, fingerprintProblems);
        StateMatcher.ThrowIfAny(problems, source, policy.ModelType, () => SavedFromAnotherType(index, policy.ModelType));

        var wanted = restore is null ? weights : weights.Concat(optimizerEntries.Values);
        var checksum = options.VerifyChecksum ? CheckpointMetadata.RecordedChecksum(index) : null;
        var hash = checksum is null ? null : CheckpointMetadata.StartChecksum(index);
        var progress = ProgressCounter.For(options.Progress, wanted.Sum(e => e.ByteLength));
        var staged = TensorFiles.Read(stream, origin, index, wanted, hash, progress);
        if (hash is not null && Checksum.Format(hash) is var actual && actual != checksum)
        {
            foreach (var tensor in staged.Values)
            {
                tensor.Dispose();
            }
            throw new CheckpointFormatException(source, $"its data does not match the checksum recorded at save (recorded {checksum}, read {actual}): the file is damaged.");
        }

        var report = new CheckpointLoadReport
        {
            Source = source,
            LoadedKeys = weights.Select(e => e.Key).ToArray(),
            SkippedPretrainedKeys = skipped,
            FingerprintsChecked = fingerprints.Checked,
            FingerprintsNotChecked = fingerprints.NotChecked,
            ContentFingerprintsChecked = fingerprints.Checked,
            ChecksumVerified = checksum is not null,
            SavedModelType = index.Metadata.GetValueOrDefault(CheckpointMetadata.Model),
            BytesLoaded = weights.Sum(e => e.ByteLength),
        };
        return new CheckpointLoadPlan(state, weights.Select(e => e.Key).ToArray(), staged, restore, snapshot, report) { Scheduler = schedulerRestore };
    }

    /// <summary>The likeliest cause of a file's problems when it names another model type than the one loading it: a mix-up of checkpoints.</summary>
    private static string? SavedFromAnotherType(TensorFileIndex index, string modelType)
        => index.Metadata.GetValueOrDefault(CheckpointMetadata.Model) is { } saved && saved != modelType
            ? $"The file was saved from a {Fragment.Quote(saved)}, not a '{modelType}': is it the checkpoint of another model?"
            : null;

    private sealed record Fingerprints(List<string> Checked, List<string> NotChecked);

    /// <summary>
    /// Each pretrained part the file recorded, compared with the model's <paramref name="fingerprints"/> (one per part,
    /// none when verification is off): its structure, then its weights. A part lands in exactly one list: checked (the
    /// weights match) or not checked (verification off, or the file records no weights for it).
    /// </summary>
    private static Fingerprints CompareFingerprints(
        PretrainedParts parts, (string Structure, string Content)[] fingerprints, IReadOnlyDictionary<string, string> metadata,
        CheckpointLoadOptions options, List<CheckpointProblem> problems)
    {
        var result = new Fingerprints([], []);
        foreach (var (part, i) in parts.All.Select((part, i) => (part, i)))
        {
            if (!options.VerifyPretrainedFingerprints || !metadata.TryGetValue(CheckpointMetadata.FingerprintPrefix + part.Prefix, out var recorded))
            {
                result.NotChecked.Add(part.Prefix);
                continue;
            }
            var (actual, content) = fingerprints[i];
            if (recorded != actual)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.FingerprintMismatch, part.Prefix, actual, recorded,
                    "The model's pretrained part has other keys, dtypes or shapes than the one the checkpoint was trained with."));
                continue;
            }
            if (!metadata.TryGetValue(CheckpointMetadata.ContentPrefix + part.Prefix, out var recordedContent))
            {
                result.NotChecked.Add(part.Prefix);
                continue;
            }
            if (recordedContent == content)
            {
                result.Checked.Add(part.Prefix);
                continue;
            }
            var hint = PretrainedContent.CameFromSource(part.Module)
                ? "The weights LoadPretrained() read from its source are not the ones the checkpoint was trained against: the source file changed, or the checkpoint belongs to another model."
                : "LoadPretrained() was not called on this model (or its pretrained weights were changed since): load the pretrained weights before the checkpoint.";
            problems.Add(new CheckpointProblem(CheckpointProblemKind.PretrainedWeightsMismatch, part.Prefix, content, recordedContent,
                hint + " To load anyway, pass CheckpointLoadOptions { VerifyPretrainedFingerprints = false }."));
        }
        return result;
    }
}
