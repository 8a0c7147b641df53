using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Format;
using CheckpointGen.Parts;
using CheckpointGen.Training;
using static TorchSharp.torch;

namespace CheckpointGen.Saving;

/// <summary>Writes a model's checkpoint: its trainable tensors, the facts of what was left out, and the training state when asked.</summary>
internal static class CheckpointWriter
{
    public static void Write(CheckpointPolicy policy, Stream stream, CheckpointSaveOptions options)
        => Prepare(policy, options).Write(stream, options.Progress);

    /// <summary>
    /// What a save of the model as it is now writes: every check done, the metadata final, the tensors the model's and the
    /// optimizer's own (not copies). <paramref name="extraMetadata"/> adds entries of a caller inside the runtime (the
    /// checkpoint manager's step and metrics); it never replaces one of the writer's.
    /// </summary>
    public static PreparedCheckpoint Prepare(CheckpointPolicy policy, CheckpointSaveOptions options, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var state = policy.Model.state_dict();
        var parts = policy.PartsOf(state);
        RefuseTrainingPretrained(policy);
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadata.Format] = "pt",
            [CheckpointMetadata.Version] = CheckpointMetadata.WriterVersion,
            [CheckpointMetadata.FormatVersion] = CheckpointMetadata.CurrentFormatVersion,
            [CheckpointMetadata.Model] = policy.ModelType,
            [CheckpointMetadata.Excluded] = CheckpointMetadata.EncodeExcluded(policy.PretrainedPrefixes),
        };
        foreach (var part in parts.All)
        {
            // The weights as they are now, however they got there: a load checks them against the model's.
            (metadata[CheckpointMetadata.FingerprintPrefix + part.Prefix], metadata[CheckpointMetadata.ContentPrefix + part.Prefix]) = PretrainedContent.Of(part, state);
        }

        var tensors = state.Where(e => !policy.IsPretrained(e.Key)).ToList();
        if (options.Training is { } training)
        {
            var snapshot = new TrainingSnapshot(training.Step, training.Epoch, training.Metadata, Optimizer: null);
            if (training.Optimizer is { } optimizer)
            {
                OptimizerState.RequireSupported(optimizer);
                var named = OptimizerState.NamedParameters(optimizer, policy.TrainableNamedParameters(), policy.ModelType);
                var (optimizerSnapshot, optimizerTensors) = OptimizerState.Capture(optimizer, named);
                snapshot = snapshot with { Optimizer = optimizerSnapshot };
                tensors.AddRange(optimizerTensors);
            }
            if (training.Scheduler is { } scheduler)
            {
                snapshot = snapshot with { Scheduler = SchedulerState.Capture(scheduler, training.Optimizer) };
            }
            metadata[TrainingSnapshot.MetadataKey] = snapshot.ToJson();
        }
        foreach (var (key, value) in extraMetadata ?? new Dictionary<string, string>())
        {
            if (!metadata.TryAdd(key, value))
            {
                throw new InvalidOperationException($"The metadata entry '{key}' is the writer's own.");
            }
        }
        return new PreparedCheckpoint(tensors.OrderBy(e => e.Key, StringComparer.Ordinal).ToList(), metadata);
    }

    /// <summary>
    /// A pretrained parameter that requires grad may be training, and the checkpoint would leave that training out
    /// without a word: refused before anything is written, so the previous file stays as it was.
    /// </summary>
    private static void RefuseTrainingPretrained(CheckpointPolicy policy)
    {
        foreach (var part in policy.Parts.All)
        {
            foreach (var (name, parameter) in part.FrozenParameters())
            {
                if (parameter.requires_grad)
                {
                    throw new InvalidOperationException(
                        $"{policy.ModelType} was not saved: the pretrained parameter '{part.Prefix}{name}' requires grad, so it may be training, " +
                        "and a checkpoint leaves pretrained parts out. Call FreezePretrained() before training, or, if the part should train, " +
                        "remove [Pretrained] from it.");
                }
            }
        }
    }
}

/// <summary>A checkpoint ready to write: its tensors in file order and its metadata, the checksum still to compute.</summary>
internal sealed record PreparedCheckpoint(IReadOnlyList<KeyValuePair<string, Tensor>> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    public long DataBytes => Tensors.Sum(e => e.Value.numel() * e.Value.element_size());

    public void Write(Stream stream, IProgress<CheckpointProgress>? progress)
        => Safetensors.Write(stream, Tensors, Metadata, CheckpointMetadata.Checksum, ProgressCounter.For(progress, DataBytes));
}
