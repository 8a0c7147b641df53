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
    {
        RefuseTrainingPretrained(policy);
        var state = policy.Model.state_dict();
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadata.Format] = "pt",
            [CheckpointMetadata.Version] = CheckpointMetadata.WriterVersion,
            [CheckpointMetadata.FormatVersion] = CheckpointMetadata.CurrentFormatVersion,
            [CheckpointMetadata.Model] = policy.ModelType,
            [CheckpointMetadata.Excluded] = CheckpointMetadata.EncodeExcluded(policy.PretrainedPrefixes),
        };
        var frozen = policy.Parts.WithoutAdapters(state);
        foreach (var part in policy.Parts.All)
        {
            metadata[CheckpointMetadata.FingerprintPrefix + part.Prefix] = CheckpointMetadata.StructuralFingerprint(frozen, part.Prefix);
            // The weights as they are now, however they got there: a load checks them against the model's.
            metadata[CheckpointMetadata.ContentPrefix + part.Prefix] = PretrainedContent.Of(part.Module);
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
            metadata[TrainingSnapshot.MetadataKey] = snapshot.ToJson();
        }
        tensors = tensors.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        var progress = ProgressCounter.For(options.Progress, tensors.Sum(e => e.Value.numel() * e.Value.element_size()));
        Safetensors.Write(stream, tensors, metadata, CheckpointMetadata.Checksum, progress);
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
