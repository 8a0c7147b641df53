using System;
using System.Collections.Generic;
using System.IO;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen;

/// <summary>
/// Saving, loading and freezing for every <see cref="ICheckpointable"/> model. They live here once rather than in each
/// generated file; call them as members: <c>model.SaveCheckpoint(path)</c> (inside the model's own type,
/// <c>this.SaveCheckpoint(path)</c>).
/// </summary>
/// <remarks>
/// <see cref="FreezePretrained(ICheckpointable)"/>, <see cref="TrainableParameters(ICheckpointable)"/> and
/// <see cref="LoadPretrained(ICheckpointable)"/> are what <c>model.FreezePretrained()</c> (and the others) resolve to on a
/// model type that has no generated member of that name: the generator writes one into a type only when the type's own
/// code calls it without <c>this.</c>. Where the type has the member, C# picks the member instead, and on an
/// <see cref="ICheckpointable"/> (or a type parameter constrained to it) the interface member; either way the call does
/// the same thing.
/// </remarks>
public static class CheckpointExtensions
{
    /// <summary>Turns gradients off for every pretrained parameter and puts pretrained modules in eval mode.</summary>
    /// <remarks>Calls <see cref="ICheckpointable.FreezePretrained"/>: the model's own member, or else the interface's default.</remarks>
    // The receiver's static type is ICheckpointable, whose own member C# prefers to any extension: no recursion.
    public static void FreezePretrained(this ICheckpointable model) => NotNull(model).FreezePretrained();

    /// <summary>The parameters outside the pretrained parts: what an optimizer should get.</summary>
    /// <remarks>Calls <see cref="ICheckpointable.TrainableParameters"/>: the model's own member, or else the interface's default.</remarks>
    public static IEnumerable<Parameter> TrainableParameters(this ICheckpointable model) => NotNull(model).TrainableParameters();

    /// <summary>
    /// Loads every pretrained part that names a source (and those of <see cref="ICheckpointable"/> submodules), checking
    /// every key, shape and dtype, then freezes them. Relative sources resolve against the current directory; see
    /// <see cref="LoadPretrained(ICheckpointable, PretrainedLoadOptions)"/> to look elsewhere.
    /// </summary>
    /// <remarks>Calls <see cref="ICheckpointable.LoadPretrained"/>: the model's own member, or else the interface's default.</remarks>
    public static void LoadPretrained(this ICheckpointable model) => NotNull(model).LoadPretrained();

    extension(ICheckpointable model)
    {
        /// <summary>
        /// The state-dict prefixes (<c>"vae."</c>) of the pretrained parts, including those of <see cref="ICheckpointable"/>
        /// submodules, resolved from the names the modules are registered under.
        /// </summary>
        /// <remarks>
        /// What <c>model.PretrainedPrefixes</c> resolves to from C# 14 on: the generator writes the property into a model type
        /// only for older language versions, which have no extension properties. Calls <see cref="ICheckpointable.PretrainedPrefixes"/>.
        /// </remarks>
        public IReadOnlyList<string> PretrainedPrefixes => NotNull(model).PretrainedPrefixes;
    }

    /// <summary><c>state_dict()</c> without the keys under <see cref="ICheckpointable.PretrainedPrefixes"/>.</summary>
    public static Dictionary<string, Tensor> TrainableStateDict(this ICheckpointable model) => Policy(model).TrainableStateDict();

    /// <summary>
    /// Writes the trainable state to <paramref name="path"/> atomically: a temporary file in the same folder, flushed to
    /// disk, then renamed over the target, so the previous file survives any failure.
    /// </summary>
    /// <exception cref="InvalidOperationException">A pretrained parameter requires grad, or a tensor is shared across the pretrained boundary.</exception>
    public static void SaveCheckpoint(this ICheckpointable model, string path) => Policy(model).SaveCheckpoint(path);

    /// <inheritdoc cref="SaveCheckpoint(ICheckpointable, string)"/>
    /// <param name="model">The model.</param>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="options">The training state to write with the weights, and who hears of the progress.</param>
    public static void SaveCheckpoint(this ICheckpointable model, string path, CheckpointSaveOptions? options) => Policy(model).SaveCheckpoint(path, options);

    /// <summary>Writes the trainable state and what resuming needs (see <see cref="TrainingState"/>) to <paramref name="path"/>, atomically.</summary>
    public static void SaveCheckpoint(this ICheckpointable model, string path, TrainingState training)
        => Policy(model).SaveCheckpoint(path, new CheckpointSaveOptions { Training = training });

    /// <summary>Writes the trainable state to <paramref name="path"/>, atomically, telling <paramref name="progress"/> how many bytes are written.</summary>
    public static void SaveCheckpoint(this ICheckpointable model, string path, IProgress<CheckpointProgress>? progress)
        => Policy(model).SaveCheckpoint(path, new CheckpointSaveOptions { Progress = progress });

    /// <summary>Writes one checkpoint at the stream's current position and leaves the stream just after it.</summary>
    public static void SaveCheckpoint(this ICheckpointable model, Stream stream) => Policy(model).SaveCheckpoint(stream);

    /// <inheritdoc cref="SaveCheckpoint(ICheckpointable, Stream)"/>
    /// <param name="model">The model.</param>
    /// <param name="stream">Where the checkpoint goes.</param>
    /// <param name="options">The training state to write with the weights, and who hears of the progress.</param>
    public static void SaveCheckpoint(this ICheckpointable model, Stream stream, CheckpointSaveOptions? options) => Policy(model).SaveCheckpoint(stream, options);

    /// <summary>Writes the trainable state and what resuming needs at the stream's current position.</summary>
    public static void SaveCheckpoint(this ICheckpointable model, Stream stream, TrainingState training)
        => Policy(model).SaveCheckpoint(stream, new CheckpointSaveOptions { Training = training });

    /// <summary>
    /// Loads a checkpoint, strict about every key except the pretrained ones. Everything is read and checked before the
    /// model changes: on any exception the model is exactly as it was.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint.</exception>
    /// <exception cref="CheckpointMismatchException">The file does not fit this model; every problem is named.</exception>
    public static CheckpointLoadReport LoadCheckpoint(this ICheckpointable model, string path, CheckpointLoadOptions? options = null)
        => Policy(model).LoadCheckpoint(path, training: null, options);

    /// <summary>Loads one checkpoint from the stream's current position, as the path overload does, and leaves the stream just after it.</summary>
    /// <inheritdoc cref="LoadCheckpoint(ICheckpointable, string, CheckpointLoadOptions?)"/>
    public static CheckpointLoadReport LoadCheckpoint(this ICheckpointable model, Stream stream, CheckpointLoadOptions? options = null)
        => Policy(model).LoadCheckpoint(stream, training: null, options);

    /// <summary>
    /// Loads the weights as <see cref="LoadCheckpoint(ICheckpointable, string, CheckpointLoadOptions?)"/> does and fills
    /// <paramref name="training"/>: step, epoch, metadata, and the state of its optimizer, matched to its parameters by
    /// name. An optimizer of another kind, with other parameters or other shapes is refused, naming them; on any refusal
    /// neither the model nor the optimizer changes.
    /// </summary>
    public static CheckpointLoadReport LoadCheckpoint(this ICheckpointable model, string path, TrainingState training, CheckpointLoadOptions? options = null)
        => Policy(model).LoadCheckpoint(path, training, options);

    /// <summary>Loads one checkpoint with its training state from the stream's current position, and leaves the stream just after it.</summary>
    /// <inheritdoc cref="LoadCheckpoint(ICheckpointable, string, TrainingState, CheckpointLoadOptions?)"/>
    public static CheckpointLoadReport LoadCheckpoint(this ICheckpointable model, Stream stream, TrainingState training, CheckpointLoadOptions? options = null)
        => Policy(model).LoadCheckpoint(stream, training, options);

    /// <summary>Loads every pretrained part that names a source, resolving relative sources as <paramref name="options"/> say, then freezes them.</summary>
    public static void LoadPretrained(this ICheckpointable model, PretrainedLoadOptions options) => Policy(model).LoadPretrained(options);

    private static CheckpointPolicy Policy(ICheckpointable model) => NotNull(model).CheckpointPolicy;

    private static ICheckpointable NotNull(ICheckpointable model) => model ?? throw new ArgumentNullException(nameof(model));
}
