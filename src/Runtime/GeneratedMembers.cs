using System.Collections.Generic;
using System.ComponentModel;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CheckpointGen;

/// <summary>
/// What the generated members call: one static call each, so that the code written into every model type stays as cheap
/// to compile as it can be. Not meant for code written by hand: call the model's members, or <see cref="CheckpointPolicy"/>.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class GeneratedMembers
{
    /// <summary>
    /// The policy of a model with one <see cref="PretrainedAttribute"/> member: what <see cref="ICheckpointable.CheckpointPolicy"/>
    /// returned in the code of earlier generators, kept for models they compiled. The generator now writes the type's facts
    /// as <see cref="PretrainedMemberAttribute"/>s instead.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="name">The member's name, for messages.</param>
    /// <param name="module">The member's current value.</param>
    /// <param name="source">The attribute's <see cref="PretrainedAttribute.Source"/>.</param>
    /// <param name="keyPrefix">The attribute's <see cref="PretrainedAttribute.KeyPrefix"/>.</param>
    public static CheckpointPolicy Policy(nn.Module model, string name, nn.Module? module, string? source, string? keyPrefix)
        => new(model, new PretrainedField(name, module, source, keyPrefix));

    /// <summary>The body of the generated <see cref="ICheckpointable.PretrainedPrefixes"/>.</summary>
    public static IReadOnlyList<string> PretrainedPrefixes(ICheckpointable model) => model.CheckpointPolicy.PretrainedPrefixes;

    /// <summary>The body of the generated <see cref="ICheckpointable.FreezePretrained"/>.</summary>
    public static void FreezePretrained(ICheckpointable model) => model.CheckpointPolicy.FreezePretrained();

    /// <summary>The body of the generated <see cref="ICheckpointable.TrainableParameters"/>.</summary>
    public static IEnumerable<Parameter> TrainableParameters(ICheckpointable model) => model.CheckpointPolicy.TrainableParameters();

    /// <summary>The body of the generated <see cref="ICheckpointable.LoadPretrained"/>.</summary>
    public static void LoadPretrained(ICheckpointable model) => model.CheckpointPolicy.LoadPretrained();

    /// <summary>What the generated <c>train(bool)</c> override calls after the base: see <see cref="CheckpointPolicy.KeepPretrainedInEval"/>.</summary>
    public static void KeepPretrainedInEval(ICheckpointable model) => model.CheckpointPolicy.KeepPretrainedInEval();
}
