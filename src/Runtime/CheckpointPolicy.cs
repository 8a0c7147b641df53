using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using CheckpointGen.Format;
using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen;

/// <summary>
/// The checkpoint behaviour of one model: what the generated members of a <see cref="PretrainedAttribute"/>
/// model call. It can also serve a model written by hand: pass the model and its pretrained fields.
/// </summary>
public sealed class CheckpointPolicy
{
    private readonly nn.Module model;
    private readonly string modelType;
    private readonly PretrainedField[] fields;
    private IReadOnlyList<PretrainedPart>? parts;

    /// <summary>Creates the policy of <paramref name="model"/>, whose type is named <paramref name="modelType"/> in messages and metadata.</summary>
    public CheckpointPolicy(nn.Module model, string modelType, params PretrainedField[] fields)
    {
        this.model = model;
        this.modelType = modelType;
        this.fields = fields;
    }

    private sealed record PretrainedPart(string Prefix, nn.Module Module);

    /// <summary>The registered pretrained modules with their state-dict prefixes, those of <see cref="ICheckpointable"/> submodules included.</summary>
    private IReadOnlyList<PretrainedPart> Parts => parts ??= ResolveParts();

    /// <inheritdoc cref="ICheckpointable.PretrainedPrefixes"/>
    public IReadOnlyList<string> PretrainedPrefixes => Parts.Select(p => p.Prefix).ToArray();

    /// <inheritdoc cref="ICheckpointable.FreezePretrained"/>
    public void FreezePretrained()
    {
        foreach (var part in Parts)
        {
            foreach (var parameter in part.Module.parameters())
            {
                parameter.requires_grad = false;
            }
            part.Module.eval();
        }
    }

    /// <summary>Puts the pretrained fields back in eval mode; what the generated <c>train(bool)</c> override calls after the base.</summary>
    /// <remarks>Works before the fields are assigned or registered, since TorchSharp may call <c>train</c> at any time.</remarks>
    public void KeepPretrainedInEval()
    {
        foreach (var field in fields)
        {
            field.Module?.eval();
        }
    }

    /// <inheritdoc cref="ICheckpointable.TrainableParameters"/>
    public IEnumerable<Parameter> TrainableParameters() => TrainableNamedParameters().Select(p => p.parameter).ToList();

    private IEnumerable<(string name, Parameter parameter)> TrainableNamedParameters() => model.named_parameters().Where(p => !IsPretrained(p.name));

    /// <inheritdoc cref="ICheckpointable.TrainableStateDict"/>
    public Dictionary<string, Tensor> TrainableStateDict()
        => model.state_dict().Where(e => !IsPretrained(e.Key)).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    /// <inheritdoc cref="ICheckpointable.SaveCheckpoint(string)"/>
    public void SaveCheckpoint(string path) => SaveCheckpoint(path, progress: null);

    /// <inheritdoc cref="ICheckpointable.SaveCheckpoint(string, IProgress{CheckpointProgress})"/>
    public void SaveCheckpoint(string path, IProgress<CheckpointProgress>? progress) => AtomicFile.Write(path, stream => SaveCheckpoint(stream, progress));

    /// <inheritdoc cref="ICheckpointable.SaveCheckpoint(string, TrainingState)"/>
    public void SaveCheckpoint(string path, TrainingState training) => AtomicFile.Write(path, stream => SaveCheckpoint(stream, progress: null, training));

    /// <inheritdoc cref="ICheckpointable.SaveCheckpoint(Stream)"/>
    public void SaveCheckpoint(Stream stream) => SaveCheckpoint(stream, progress: null);

    private void SaveCheckpoint(Stream stream, IProgress<CheckpointProgress>? progress, TrainingState? training = null)
    {
        var state = model.state_dict();
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadata.Format] = "pt",
            [CheckpointMetadata.Version] = CheckpointMetadata.WriterVersion,
            [CheckpointMetadata.Model] = modelType,
            [CheckpointMetadata.Excluded] = CheckpointMetadata.EncodeExcluded(PretrainedPrefixes),
        };
        foreach (var part in Parts)
        {
            metadata[CheckpointMetadata.FingerprintPrefix + part.Prefix] = CheckpointMetadata.StructuralFingerprint(state, part.Prefix);
            if (PretrainedContent.Of(part.Module) is { } content)
            {
                metadata[CheckpointMetadata.ContentPrefix + part.Prefix] = content;
            }
        }

        var trainable = state.Where(e => !IsPretrained(e.Key)).ToList();
        if (training is not null)
        {
            if (training.Optimizer is { } optimizer)
            {
                OptimizerSnapshot.RequireSupported(optimizer);
            }
            var named = training.Optimizer is null ? [] : OptimizerSnapshot.NamedParameters(training.Optimizer, TrainableNamedParameters(), modelType);
            var (tensors, json) = OptimizerSnapshot.Capture(training, named);
            trainable.AddRange(tensors);
            metadata[OptimizerSnapshot.MetadataKey] = json;
        }
        trainable = trainable.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        Safetensors.Write(stream, trainable, metadata, CheckpointMetadata.Checksum, ProgressCounter.For(progress, trainable.Sum(e => e.Value.numel() * e.Value.element_size())));
    }

    /// <inheritdoc cref="ICheckpointable.LoadCheckpoint(string, CheckpointLoadOptions?)"/>
    public CheckpointLoadReport LoadCheckpoint(string path, CheckpointLoadOptions? options = null)
    {
        using var stream = OpenExisting(path, $"checkpoint of {modelType}");
        return Load(stream, options, mapFile: true);
    }

    /// <inheritdoc cref="ICheckpointable.LoadCheckpoint(string, TrainingState, CheckpointLoadOptions?)"/>
    public CheckpointLoadReport LoadCheckpoint(string path, TrainingState training, CheckpointLoadOptions? options = null)
    {
        using var stream = OpenExisting(path, $"checkpoint of {modelType}");
        return Load(stream, options, mapFile: true, training);
    }

    /// <inheritdoc cref="ICheckpointable.LoadCheckpoint(Stream, CheckpointLoadOptions?)"/>
    public CheckpointLoadReport LoadCheckpoint(Stream stream, CheckpointLoadOptions? options = null) => Load(stream, options, mapFile: false);

    /// <summary>A file is mapped and copied from once; any other stream is read into staging memory first.</summary>
    private CheckpointLoadReport Load(Stream stream, CheckpointLoadOptions? options, bool mapFile, TrainingState? training = null)
    {
        options ??= CheckpointLoadOptions.Default;
        var source = stream is FileStream file ? file.Name : $"<{stream.GetType().Name}>";
        var origin = stream.CanSeek ? stream.Position : 0;
        var index = Safetensors.ReadIndex(stream, source, stream.CanSeek ? stream.Length - origin : null);
        CheckpointMetadata.RequireCheckpointGenEntries(index);

        var state = model.state_dict();
        var problems = new List<CheckpointProblem>();
        var loaded = new List<TensorEntry>();
        var skipped = new List<string>();
        var optimizerEntries = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var entry in index.Entries)
        {
            if (entry.Key.StartsWith(OptimizerSnapshot.KeyPrefix, StringComparison.Ordinal))
            {
                // Training state: restored only when asked for; a weights-only load passes over it.
                optimizerEntries.Add(entry.Key, entry);
            }
            else if (IsPretrained(entry.Key))
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
            else if (Match(entry, entry.Key, state, problems))
            {
                loaded.Add(entry);
            }
        }
        var inFile = index.Entries.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        AddMissing(state.Where(e => !IsPretrained(e.Key) && !inFile.Contains(e.Key)), problems);

        var checkedPrefixes = new List<string>();
        var uncheckedPrefixes = new List<string>();
        var contentChecked = new List<string>();
        foreach (var part in Parts)
        {
            if (!options.VerifyPretrainedFingerprints || !index.Metadata.TryGetValue(CheckpointMetadata.FingerprintPrefix + part.Prefix, out var recorded))
            {
                uncheckedPrefixes.Add(part.Prefix);
                continue;
            }
            var actual = CheckpointMetadata.StructuralFingerprint(state, part.Prefix);
            if (recorded != actual)
            {
                problems.Add(new CheckpointProblem(CheckpointProblemKind.FingerprintMismatch, part.Prefix, actual, recorded));
                continue;
            }
            checkedPrefixes.Add(part.Prefix);
            // The weights themselves can be compared only when both the file and this model know them.
            if (index.Metadata.TryGetValue(CheckpointMetadata.ContentPrefix + part.Prefix, out var recordedContent) && PretrainedContent.Of(part.Module) is { } content)
            {
                if (recordedContent == content)
                {
                    contentChecked.Add(part.Prefix);
                }
                else
                {
                    problems.Add(new CheckpointProblem(CheckpointProblemKind.FingerprintMismatch, part.Prefix, content, recordedContent));
                }
            }
        }
        var saved = training is null ? null : OptimizerSnapshot.Read(index.Metadata, source, training.Optimizer);
        var named = new List<(string Name, Parameter Parameter)>();
        if (training is not null && saved is null)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.OptimizerMismatch, "training state", "a training state to fill", "none saved"));
        }
        if (training?.Optimizer is { } optimizer && saved is not null)
        {
            OptimizerSnapshot.RequireSupported(optimizer);
            named = OptimizerSnapshot.NamedParameters(optimizer, TrainableNamedParameters(), modelType);
            problems.AddRange(OptimizerSnapshot.Check(saved, optimizer, named, optimizerEntries));
        }
        ThrowIfAny(problems, source, modelType);

        var checksum = options.VerifyChecksum ? CheckpointMetadata.RecordedChecksum(index) : null;
        // The optimizer's tensors are read first into memory of their own; they reach the optimizer only after the weights
        // have passed the checksum and been copied, so a refused file changes neither.
        var optimizerState = training?.Optimizer is null ? [] : TensorFiles.Read(stream, origin, index, optimizerEntries.Values);
        long bytes;
        try
        {
            var progress = ProgressCounter.For(options.Progress, loaded.Sum(e => e.ByteLength));
            bytes = mapFile && stream is FileStream mappable
                ? MappedCopy.Load(mappable, index, loaded, state, checksum, progress)
                : CopyIntoModel(stream, origin, index, loaded, state, checksum, progress);
            if (training is not null && saved is not null)
            {
                if (training.Optimizer is { } restored)
                {
                    OptimizerSnapshot.Restore(saved, restored, named, optimizerState);
                }
                training.Step = (long?)saved["step"] ?? 0;
                training.Epoch = (int?)saved["epoch"] ?? 0;
                training.Metadata = saved["metadata"]?.AsObject().ToDictionary(e => e.Key, e => (string?)e.Value ?? "") ?? [];
            }
        }
        finally
        {
            foreach (var tensor in optimizerState.Values)
            {
                tensor.Dispose();
            }
        }
        return new CheckpointLoadReport
        {
            Source = source,
            LoadedKeys = loaded.Select(e => e.Key).ToArray(),
            SkippedPretrainedKeys = skipped,
            FingerprintsChecked = checkedPrefixes,
            FingerprintsNotChecked = uncheckedPrefixes,
            ContentFingerprintsChecked = contentChecked,
            ChecksumVerified = checksum is not null,
            SavedModelType = index.Metadata.GetValueOrDefault(CheckpointMetadata.Model),
            BytesLoaded = bytes,
        };
    }

    /// <summary>
    /// The folder relative <see cref="PretrainedAttribute.Source"/> paths resolve against when <c>LoadPretrained()</c> runs;
    /// <see langword="null"/> (the default) means the current directory, as for any relative path in .NET.
    /// </summary>
    public static string? PretrainedBaseDirectory { get; set; }

    /// <inheritdoc cref="ICheckpointable.LoadPretrained"/>
    /// <remarks>
    /// Every source, of this model's fields and of every <see cref="ICheckpointable"/> submodule's, is opened, indexed and
    /// checked (keys, shapes, dtypes, file length) before any field changes: a missing, foreign or mismatched source
    /// changes nothing. The sources are then read one after another, each staged whole before it is copied.
    /// </remarks>
    public void LoadPretrained()
    {
        var loads = new List<PretrainedLoad>();
        try
        {
            PlanPretrainedLoads(loads);
            using (no_grad())
            {
                foreach (var load in loads)
                {
                    if (load.File.Loaded is { } tensors)
                    {
                        load.Entries.ForEach(entry => load.State[entry.Key].copy_(tensors[load.FileKeys[entry]]));
                    }
                    else
                    {
                        CopyIntoModel(load.File.Stream!, 0, load.File.Index, load.Entries, load.State);
                    }
                }
            }
            // Once per load, from the weights now in memory: saving never has to read them.
            foreach (var module in loads.Select(l => l.Module).Distinct(ReferenceEqualityComparer.Instance).Cast<nn.Module>())
            {
                PretrainedContent.Record(module, CheckpointMetadata.ContentFingerprint(module.state_dict()));
            }
        }
        finally
        {
            loads.Select(l => l.File).Distinct().ToList().ForEach(file => file.Dispose());
        }
        FreezePretrained();
    }

    /// <summary>One file's checked plan: its entries, keyed as the module names them, and the module state they go into.</summary>
    private sealed record PretrainedLoad(nn.Module Module, WeightFile File, List<TensorEntry> Entries, Dictionary<TensorEntry, string> FileKeys, Dictionary<string, Tensor> State);

    /// <summary>Opens and checks the sources of this model's fields, then those of its <see cref="ICheckpointable"/> submodules.</summary>
    private void PlanPretrainedLoads(List<PretrainedLoad> loads)
    {
        foreach (var field in fields.Where(f => f.Source is not null))
        {
            var module = field.Module ?? throw Unassigned(field);
            var source = PretrainedBaseDirectory is null ? field.Source! : Path.Combine(PretrainedBaseDirectory, field.Source!);
            var files = WeightSource.Open(source, path => OpenExisting(path, $"pretrained weights of {modelType}.{field.Name}"));
            var state = module.state_dict();
            var problems = new List<CheckpointProblem>();
            var inFile = new HashSet<string>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var load = new PretrainedLoad(module, file, [], new Dictionary<TensorEntry, string>(ReferenceEqualityComparer.Instance), state);
                loads.Add(load);
                foreach (var entry in file.Index.Entries)
                {
                    var key = field.KeyPrefix is null ? entry.Key
                        : entry.Key.StartsWith(field.KeyPrefix, StringComparison.Ordinal) ? entry.Key[field.KeyPrefix.Length..]
                        : null;
                    if (key is not null && inFile.Add(key) && Match(entry, key, state, problems))
                    {
                        var renamed = entry with { Key = key };
                        load.Entries.Add(renamed);
                        load.FileKeys[renamed] = entry.Key;
                    }
                }
            }
            AddMissing(state.Where(e => !inFile.Contains(e.Key)), problems);
            ThrowIfAny(problems, files.Count == 1 ? files[0].Index.Source : Path.GetFullPath(source), $"{modelType}.{field.Name}" + (field.KeyPrefix is null ? "" : $" (keys under '{field.KeyPrefix}')"));
        }
        foreach (var child in TopmostCheckpointableDescendants())
        {
            child.CheckpointPolicy.PlanPretrainedLoads(loads);
        }
    }

    private bool IsPretrained(string key)
    {
        foreach (var part in Parts)
        {
            if (key.StartsWith(part.Prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    private PretrainedPart[] ResolveParts()
    {
        // A module may be registered under several names (an adapter holding the frozen encoder): every one is pretrained.
        var namesOf = new Dictionary<nn.Module, List<string>>(ReferenceEqualityComparer.Instance);
        var moduleNamed = new Dictionary<string, nn.Module>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules())
        {
            if (!namesOf.TryGetValue(module, out var names))
            {
                namesOf[module] = names = new List<string>();
            }
            names.Add(name);
            moduleNamed.TryAdd(name, module);
        }

        var found = new List<PretrainedPart>();
        foreach (var field in fields)
        {
            var module = field.Module ?? throw Unassigned(field);
            if (!namesOf.TryGetValue(module, out var names))
            {
                throw new InvalidOperationException(
                    $"{modelType}.{field.Name} is marked [Pretrained] but is not a registered submodule of {modelType}: " +
                    "call RegisterComponents() (or register_module) in the constructor before using checkpoint methods.");
            }
            found.AddRange(names.Select(name => new PretrainedPart(name + ".", module)));
        }
        foreach (var (name, child) in model.named_modules())
        {
            if (child is ICheckpointable checkpointable)
            {
                foreach (var prefix in checkpointable.PretrainedPrefixes)
                {
                    var full = $"{name}.{prefix}";
                    found.Add(new PretrainedPart(full, moduleNamed[full[..^1]]));
                }
            }
        }
        // A part inside another part (a child's own pretrained piece within a pretrained field) is covered by the outer one.
        var parts = found
            .DistinctBy(p => p.Prefix)
            .Where(p => !found.Any(outer => outer.Prefix.Length < p.Prefix.Length && p.Prefix.StartsWith(outer.Prefix, StringComparison.Ordinal)))
            .OrderBy(p => p.Prefix, StringComparer.Ordinal)
            .ToArray();
        RefuseTiedAcrossBoundary(parts);
        return parts;
    }

    /// <summary>
    /// A tensor both inside and outside the pretrained parts (tied weights) would be frozen yet saved, and loading a
    /// checkpoint would write into the pretrained part: refused, naming both keys.
    /// </summary>
    private void RefuseTiedAcrossBoundary(PretrainedPart[] parts)
    {
        var pretrainedKeyOf = new Dictionary<IntPtr, string>();
        var trainable = new List<(string Key, IntPtr Handle)>();
        foreach (var (key, tensor) in model.state_dict())
        {
            if (parts.Any(p => key.StartsWith(p.Prefix, StringComparison.Ordinal)))
            {
                pretrainedKeyOf.TryAdd(tensor.Handle, key);
            }
            else
            {
                trainable.Add((key, tensor.Handle));
            }
        }
        foreach (var (key, handle) in trainable)
        {
            if (pretrainedKeyOf.TryGetValue(handle, out var pretrainedKey))
            {
                throw new InvalidOperationException(
                    $"{modelType}: '{key}' is the same tensor as the pretrained '{pretrainedKey}', so it would be frozen yet checkpointed. " +
                    "Untie them, or mark the module holding it [Pretrained] as well.");
            }
        }
    }

    /// <summary>Each <see cref="ICheckpointable"/> submodule not inside another one (which loads it), once however often it is registered.</summary>
    private IEnumerable<ICheckpointable> TopmostCheckpointableDescendants()
    {
        var names = new List<string>();
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var (name, child) in model.named_modules().OrderBy(m => m.name.Length))
        {
            if (child is ICheckpointable checkpointable && !names.Any(outer => name.StartsWith(outer + ".", StringComparison.Ordinal)))
            {
                names.Add(name);
                if (seen.Add(child))
                {
                    yield return checkpointable;
                }
            }
        }
    }

    /// <summary>Checks one file entry against the tensor the model has under <paramref name="key"/>; records what disagrees.</summary>
    private static bool Match(TensorEntry entry, string key, Dictionary<string, Tensor> state, List<CheckpointProblem> problems)
    {
        if (!state.TryGetValue(key, out var target))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.UnexpectedKey, entry.Key, null, entry.Describe()));
            return false;
        }
        var expected = TensorEntry.DescribeTensor(target.dtype, target.shape);
        if (target.dtype != entry.Dtype)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.DtypeMismatch, entry.Key, expected, entry.Describe()));
            return false;
        }
        if (!entry.HasShape(target.shape))
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.ShapeMismatch, entry.Key, expected, entry.Describe()));
            return false;
        }
        return true;
    }

    private static void AddMissing(IEnumerable<KeyValuePair<string, Tensor>> missing, List<CheckpointProblem> problems)
    {
        foreach (var (key, tensor) in missing)
        {
            problems.Add(new CheckpointProblem(CheckpointProblemKind.MissingKey, key, TensorEntry.DescribeTensor(tensor.dtype, tensor.shape), null));
        }
    }

    private static void ThrowIfAny(List<CheckpointProblem> problems, string source, string target)
    {
        if (problems.Count > 0)
        {
            throw new CheckpointMismatchException(source, target, problems.OrderBy(p => p.Kind).ThenBy(p => p.Key, StringComparer.Ordinal).ToArray());
        }
    }

    /// <summary>
    /// Reads every entry first, verifying the data against <paramref name="checksum"/> when given, then copies:
    /// a read or a check that fails leaves the model untouched.
    /// </summary>
    private static long CopyIntoModel(
        Stream stream, long origin, TensorFileIndex index, List<TensorEntry> entries, Dictionary<string, Tensor> state,
        string? checksum = null, ProgressCounter? progress = null)
    {
        var hash = checksum is null ? null : new XxHash3();
        var staged = TensorFiles.Read(stream, origin, index, entries, hash, progress);
        try
        {
            if (hash is not null && CheckpointMetadata.FormatChecksum(hash) is var actual && actual != checksum)
            {
                throw new CheckpointFormatException(index.Source, $"its data does not match the checksum recorded at save (recorded {checksum}, read {actual}): the file is damaged.");
            }
            using var noGrad = no_grad();
            foreach (var (key, tensor) in staged)
            {
                var target = state[key];
                // A contiguous CPU tensor takes the staged memory as its own: no second copy. The tensor object stays
                // the same, so optimizers and modules holding it see the loaded values.
                if (target.device_type == DeviceType.CPU && target.is_contiguous() && target.storage_offset() == 0)
                {
                    target.set_(tensor);
                }
                else
                {
                    target.copy_(tensor);
                }
            }
            return entries.Sum(e => e.ByteLength);
        }
        finally
        {
            foreach (var tensor in staged.Values)
            {
                tensor.Dispose();
            }
        }
    }

    private static FileStream OpenExisting(string path, string what)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"The {what} '{full}' does not exist.", full);
        }
        // Sharing deletion lets a save replace the file while it is being read (Windows asks for that).
        return new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 1 << 16);
    }

    private InvalidOperationException Unassigned(PretrainedField field)
        => new($"{modelType}.{field.Name} is marked [Pretrained] but is null: assign it in the constructor before using checkpoint methods.");
}
