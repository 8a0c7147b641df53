using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using CheckpointGen.Format;
using CheckpointGen.Loading;
using CheckpointGen.Parts;
using CheckpointGen.Pretrained;
using CheckpointGen.Saving;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen;

/// <summary>
/// The checkpoint facts of one model, its <see cref="PretrainedAttribute"/> members with their current values, and the
/// front to everything the runtime does with them. <see cref="ICheckpointable.CheckpointPolicy"/> builds it from the facts the
/// generator writes on a model type; a model written by hand can create it too.
/// The work itself is in the layers below: <c>Parts</c> (which keys are pretrained), <c>Saving</c>, <c>Loading</c>
/// (a checked plan, then an apply), <c>Pretrained</c> (weights from their sources), <c>Training</c> and <c>Format</c>.
/// </summary>
public sealed class CheckpointPolicy
{
    private readonly PretrainedField[] fields;
    private PretrainedParts? parts;

    /// <summary>Creates the policy of <paramref name="model"/>; messages and checkpoints name it by its runtime type.</summary>
    public CheckpointPolicy(nn.Module model, params PretrainedField[] fields)
        : this(model, DisplayName(model.GetType()), fields)
    {
    }

    /// <summary>Creates the policy of <paramref name="model"/>, whose type is named <paramref name="modelType"/> in messages and metadata.</summary>
    public CheckpointPolicy(nn.Module model, string modelType, params PretrainedField[] fields)
    {
        Model = model;
        ModelType = modelType;
        this.fields = fields;
    }

    /// <summary>The policy of a model: its <see cref="ICheckpointable.CheckpointPolicy"/>.</summary>
    public static CheckpointPolicy Of(ICheckpointable model) => model.CheckpointPolicy;

    internal nn.Module Model { get; }

    internal string ModelType { get; }

    internal IReadOnlyList<PretrainedField> Fields => fields;

    /// <summary>The registered pretrained modules with their prefixes, those of <see cref="ICheckpointable"/> submodules included.</summary>
    internal PretrainedParts Parts => parts ??= PretrainedParts.Resolve(Model, ModelType, fields);

    /// <summary><see cref="Parts"/>, resolved from the model's <paramref name="state"/> dict when not resolved yet.</summary>
    internal PretrainedParts PartsOf(Dictionary<string, Tensor> state) => parts ??= PretrainedParts.Resolve(Model, ModelType, fields, state);

    internal bool IsPretrained(string key) => Parts.IsPretrained(key);

    internal IEnumerable<(string Name, Parameter Parameter)> TrainableNamedParameters() => Model.named_parameters().Where(p => !IsPretrained(p.name));

    /// <inheritdoc cref="ICheckpointable.PretrainedPrefixes"/>
    public IReadOnlyList<string> PretrainedPrefixes => Parts.Prefixes;

    /// <inheritdoc cref="ICheckpointable.FreezePretrained"/>
    /// <remarks>The parts' adapters are left trainable, in the model's mode.</remarks>
    public void FreezePretrained()
    {
        foreach (var part in Parts.All)
        {
            foreach (var (_, parameter) in part.FrozenParameters())
            {
                parameter.requires_grad = false;
            }
            KeepInEval(part.Module);
        }
    }

    /// <summary>
    /// Puts the pretrained members back in eval mode, and their adapters in the model's mode; what the generated
    /// <c>train(bool)</c> override calls after the base.
    /// </summary>
    /// <remarks>Works before the members are assigned or registered, since TorchSharp may call <c>train</c> at any time.</remarks>
    public void KeepPretrainedInEval()
    {
        foreach (var field in fields)
        {
            if (field.Module is { } module)
            {
                KeepInEval(module);
            }
        }
    }

    /// <summary>The part in eval mode, its adapters in the model's mode.</summary>
    private void KeepInEval(nn.Module part)
    {
        part.eval();
        var training = Model.training;
        foreach (var adapter in AdapterModules.Modules(part))
        {
            adapter.train(training);
        }
    }

    /// <inheritdoc cref="ICheckpointable.TrainableParameters"/>
    public IEnumerable<Parameter> TrainableParameters() => TrainableNamedParameters().Select(p => p.Parameter).ToList();

    /// <inheritdoc cref="CheckpointExtensions.TrainableStateDict"/>
    public Dictionary<string, Tensor> TrainableStateDict()
        => Model.state_dict().Where(e => !IsPretrained(e.Key)).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    /// <inheritdoc cref="CheckpointExtensions.SaveCheckpoint(ICheckpointable, string, CheckpointSaveOptions?)"/>
    public void SaveCheckpoint(string path, CheckpointSaveOptions? options = null)
        => AtomicFile.Write(path, stream => CheckpointWriter.Write(this, stream, options ?? CheckpointSaveOptions.Default));

    /// <inheritdoc cref="CheckpointExtensions.SaveCheckpoint(ICheckpointable, Stream, CheckpointSaveOptions?)"/>
    public void SaveCheckpoint(Stream stream, CheckpointSaveOptions? options = null)
        => CheckpointWriter.Write(this, stream, options ?? CheckpointSaveOptions.Default);

    /// <inheritdoc cref="CheckpointExtensions.LoadCheckpoint(ICheckpointable, string, TrainingState, CheckpointLoadOptions?)"/>
    public CheckpointLoadReport LoadCheckpoint(string path, TrainingState? training = null, CheckpointLoadOptions? options = null)
    {
        using var stream = CheckpointFiles.OpenExisting(path, $"checkpoint of {ModelType}");
        return Load(stream, stream.Name, wholeFile: true, training, options);
    }

    /// <inheritdoc cref="CheckpointExtensions.LoadCheckpoint(ICheckpointable, Stream, TrainingState, CheckpointLoadOptions?)"/>
    public CheckpointLoadReport LoadCheckpoint(Stream stream, TrainingState? training = null, CheckpointLoadOptions? options = null)
        => Load(stream, stream is FileStream file ? file.Name : $"<{stream.GetType().Name}>", wholeFile: false, training, options);

    private CheckpointLoadReport Load(Stream stream, string source, bool wholeFile, TrainingState? training, CheckpointLoadOptions? options)
    {
        // Declared first, ended last: the memory the installed tensors had is freed inside the scope and kept for the next load.
        using var staging = StagingMemory.LoadScope();
        using var plan = CheckpointReader.Plan(this, stream, source, wholeFile, training, options ?? CheckpointLoadOptions.Default);
        plan.Apply(training);
        return plan.Report;
    }

    /// <summary>
    /// The folder relative <see cref="PretrainedAttribute.Source"/> paths resolve against when <c>LoadPretrained()</c> runs
    /// without <see cref="PretrainedLoadOptions.BaseDirectory"/>; <see langword="null"/> (the default) means the current directory.
    /// </summary>
    [Obsolete("A process-wide setting: pass PretrainedLoadOptions { BaseDirectory = ... } to LoadPretrained instead.")]
    public static string? PretrainedBaseDirectory
    {
        get => PretrainedLoader.DefaultBaseDirectory;
        set => PretrainedLoader.DefaultBaseDirectory = value;
    }

    /// <inheritdoc cref="ICheckpointable.LoadPretrained"/>
    public void LoadPretrained() => LoadPretrained(null);

    /// <inheritdoc cref="CheckpointExtensions.LoadPretrained(ICheckpointable, PretrainedLoadOptions)"/>
    public void LoadPretrained(PretrainedLoadOptions? options)
    {
        PretrainedLoader.Load(this, options ?? PretrainedLoadOptions.Default);
        FreezePretrained();
    }

    /// <summary>A type as C# writes it, closed type arguments included: <c>Samples.Adapter&lt;Samples.Encoder&gt;</c>.</summary>
    internal static string DisplayName(Type type)
    {
        var arguments = type.IsGenericType ? type.GetGenericArguments() : Type.EmptyTypes;
        var used = 0;
        return Build(type);

        string Build(Type current)
        {
            var outer = current.IsNested ? Build(current.DeclaringType!) + "." : current.Namespace is null ? "" : current.Namespace + ".";
            var tick = current.Name.IndexOf('`', StringComparison.Ordinal);
            if (tick < 0)
            {
                return outer + current.Name;
            }
            var count = int.Parse(current.Name[(tick + 1)..], CultureInfo.InvariantCulture);
            var own = arguments.Skip(used).Take(count).Select(DisplayName);
            used += count;
            return $"{outer}{current.Name[..tick]}<{string.Join(", ", own)}>";
        }
    }
}
