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
        var state = policy.Model.state_dict();
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadata.Format] = "pt",
            [CheckpointMetadata.Version] = CheckpointMetadata.WriterVersion,
            [CheckpointMetadata.Model] = policy.ModelType,
            [CheckpointMetadata.Excluded] = CheckpointMetadata.EncodeExcluded(policy.PretrainedPrefixes),
        };
        foreach (var part in policy.Parts.All)
        {
            metadata[CheckpointMetadata.FingerprintPrefix + part.Prefix] = CheckpointMetadata.StructuralFingerprint(state, part.Prefix);
            if (PretrainedContent.Of(part.Module) is { } content)
            {
                metadata[CheckpointMetadata.ContentPrefix + part.Prefix] = content;
            }
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
}
