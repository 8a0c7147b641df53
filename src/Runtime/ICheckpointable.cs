using System;
using System.Collections.Generic;
using System.IO;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen;

/// <summary>
/// A model whose checkpoints hold only its trainable part. The CheckpointGen generator implements it
/// for every partial <c>nn.Module</c> with <see cref="PretrainedAttribute"/> fields, so that training
/// loops, tools and enclosing models can use any such model without knowing its type.
/// </summary>
public interface ICheckpointable
{
    /// <summary>
    /// The state-dict prefixes (<c>"vae."</c>) of the pretrained parts, including those of
    /// <see cref="ICheckpointable"/> submodules, resolved from the names the modules are registered under.
    /// </summary>
    IReadOnlyList<string> PretrainedPrefixes { get; }

    /// <summary>Turns gradients off for every pretrained parameter and puts pretrained modules in eval mode.</summary>
    void FreezePretrained();

    /// <summary>The parameters outside the pretrained parts: what an optimizer should get.</summary>
    IEnumerable<Parameter> TrainableParameters();

    /// <summary><c>state_dict()</c> without the keys under <see cref="PretrainedPrefixes"/>.</summary>
    Dictionary<string, Tensor> TrainableStateDict();

    /// <summary>Writes the trainable state to <paramref name="path"/> atomically: the previous file survives any failure.</summary>
    void SaveCheckpoint(string path);

    /// <inheritdoc cref="SaveCheckpoint(string)"/>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="progress">Told how many tensor bytes have been written, every few megabytes.</param>
    void SaveCheckpoint(string path, IProgress<CheckpointProgress>? progress);

    /// <summary>
    /// Writes the trainable state and what resuming needs: the optimizer's state for the trainable parameters, keyed by
    /// parameter name, its hyper-parameters, and the run's step, epoch and metadata. Atomically, in one file.
    /// </summary>
    void SaveCheckpoint(string path, TrainingState training);

    /// <summary>Writes the trainable state to <paramref name="stream"/>.</summary>
    void SaveCheckpoint(Stream stream);

    /// <summary>
    /// Loads a checkpoint, strict about every key except the pretrained ones. Every check runs before
    /// the model changes: on any exception the model is exactly as it was.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint.</exception>
    /// <exception cref="CheckpointMismatchException">The file does not fit this model.</exception>
    CheckpointLoadReport LoadCheckpoint(string path, CheckpointLoadOptions? options = null);

    /// <inheritdoc cref="LoadCheckpoint(string, CheckpointLoadOptions?)"/>
    CheckpointLoadReport LoadCheckpoint(Stream stream, CheckpointLoadOptions? options = null);

    /// <summary>
    /// Loads the weights as <see cref="LoadCheckpoint(string, CheckpointLoadOptions?)"/> does and fills
    /// <paramref name="training"/>: step, epoch, metadata, and the state of its optimizer, matched to its parameters by
    /// name. An optimizer of another kind, with other parameters or other shapes is refused, naming them; on any refusal
    /// neither the model nor the optimizer changes.
    /// </summary>
    CheckpointLoadReport LoadCheckpoint(string path, TrainingState training, CheckpointLoadOptions? options = null);

    /// <summary>
    /// The behaviour behind the other members. An enclosing model uses it to treat its submodules' pretrained parts as
    /// its own (one check of every source before anything loads); the generated code implements it explicitly.
    /// </summary>
    CheckpointPolicy CheckpointPolicy { get; }

    /// <summary>
    /// Loads every pretrained part that names a source (and those of <see cref="ICheckpointable"/>
    /// submodules), checking every key, shape and dtype, then freezes them.
    /// </summary>
    void LoadPretrained();
}
