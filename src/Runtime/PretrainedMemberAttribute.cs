using System;
using System.ComponentModel;

namespace CheckpointGen;

/// <summary>
/// One <see cref="PretrainedAttribute"/> member of a model type, as the generator writes it on the type: the type's facts,
/// from which <see cref="ICheckpointable.CheckpointPolicy"/> builds the policy, reading the member's current value. The
/// generator writes one for each valid member, fields first, then properties; not meant for code written by hand.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class PretrainedMemberAttribute : Attribute
{
    /// <summary>Records a pretrained member.</summary>
    /// <param name="name">The field's name, or the property's for a <c>[field: Pretrained]</c> property.</param>
    /// <param name="source">The member's <see cref="PretrainedAttribute.Source"/>.</param>
    /// <param name="keyPrefix">The member's <see cref="PretrainedAttribute.KeyPrefix"/>.</param>
    public PretrainedMemberAttribute(string name, string? source = null, string? keyPrefix = null)
    {
        Name = name;
        Source = source;
        KeyPrefix = keyPrefix;
    }

    /// <summary>The field's name, or the property's for a <c>[field: Pretrained]</c> property.</summary>
    public string Name { get; }

    /// <summary>The member's <see cref="PretrainedAttribute.Source"/>.</summary>
    public string? Source { get; }

    /// <summary>The member's <see cref="PretrainedAttribute.KeyPrefix"/>.</summary>
    public string? KeyPrefix { get; }
}
