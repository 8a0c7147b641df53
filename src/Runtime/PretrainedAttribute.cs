using System;

namespace CheckpointGen;

/// <summary>
/// Marks a module field as a frozen pretrained part of its model: it is frozen, loaded from
/// <see cref="Source"/> by the generated <c>LoadPretrained()</c>, and never written to a checkpoint.
/// The containing type must be a <c>partial</c> class deriving from <c>torch.nn.Module</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class PretrainedAttribute : Attribute
{
    /// <summary>Marks the field pretrained; its weights come from elsewhere (for example a parent's source).</summary>
    public PretrainedAttribute()
    {
    }

    /// <summary>Marks the field pretrained, with its weights in <paramref name="source"/>.</summary>
    /// <param name="source">
    /// A safetensors file or a file written by TorchSharp's <c>Module.save</c>. A relative path is
    /// resolved against the current directory when <c>LoadPretrained()</c> runs.
    /// </param>
    public PretrainedAttribute(string source)
    {
        Source = source;
    }

    /// <summary>The file holding the pretrained weights, or <see langword="null"/>.</summary>
    public string? Source { get; }

    /// <summary>
    /// The prefix of this field's keys inside <see cref="Source"/>, for a file that holds a whole
    /// model of which this field is one part (for example <c>"vae."</c>). Keys outside it are ignored.
    /// </summary>
    public string? KeyPrefix { get; set; }
}
