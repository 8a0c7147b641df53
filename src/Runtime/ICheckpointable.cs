using System.Collections.Generic;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen;

/// <summary>
/// A model whose checkpoints hold only its trainable part. The CheckpointGen generator implements it for every partial
/// <c>nn.Module</c> with <see cref="PretrainedAttribute"/> members, so that training loops, tools and enclosing models
/// can use any such model without knowing its type. Saving and loading are extension methods
/// (<see cref="CheckpointExtensions"/>): <c>model.SaveCheckpoint(path)</c>, <c>model.LoadCheckpoint(path)</c>.
/// </summary>
/// <remarks>
/// Every member has a default implementation. <see cref="CheckpointPolicy"/> builds the policy from the facts the generator
/// writes on the model type (<see cref="PretrainedMemberAttribute"/>); a model written by hand implements it itself. The other
/// members ask the policy. On a model type, <see cref="FreezePretrained"/>, <see cref="TrainableParameters"/> and <see cref="LoadPretrained"/>
/// are generated only when the type's own code calls them without <c>this.</c>; everywhere else <c>model.FreezePretrained()</c>
/// resolves to the extension method of the same name (<see cref="CheckpointExtensions.FreezePretrained(ICheckpointable)"/>),
/// which calls the interface member.
/// </remarks>
public interface ICheckpointable
{
    /// <summary>
    /// The state-dict prefixes (<c>"vae."</c>) of the pretrained parts, including those of
    /// <see cref="ICheckpointable"/> submodules, resolved from the names the modules are registered under.
    /// </summary>
    IReadOnlyList<string> PretrainedPrefixes => CheckpointPolicy.PretrainedPrefixes;

    /// <summary>Turns gradients off for every pretrained parameter and puts pretrained modules in eval mode.</summary>
    void FreezePretrained() => CheckpointPolicy.FreezePretrained();

    /// <summary>The parameters outside the pretrained parts: what an optimizer should get.</summary>
    IEnumerable<Parameter> TrainableParameters() => CheckpointPolicy.TrainableParameters();

    /// <summary>
    /// Loads every pretrained part that names a source (and those of <see cref="ICheckpointable"/>
    /// submodules), checking every key, shape and dtype, then freezes them.
    /// </summary>
    void LoadPretrained() => CheckpointPolicy.LoadPretrained();

    /// <summary>
    /// The model's checkpoint facts and the behaviour behind every member. An enclosing model uses it to treat its
    /// submodules' pretrained parts as its own.
    /// </summary>
    /// <remarks>
    /// Built on each call from the facts the generator writes on the model type, with the members' current values, so that
    /// a member assigned anew is seen. A type without those facts throws <see cref="System.InvalidOperationException"/>
    /// naming the likely cause, unless it implements this property itself.
    /// </remarks>
    CheckpointPolicy CheckpointPolicy => Parts.GeneratedFacts.Policy(this);
}
