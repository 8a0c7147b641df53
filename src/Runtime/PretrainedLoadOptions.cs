namespace CheckpointGen;

/// <summary>Where <c>LoadPretrained</c> finds the sources named by <see cref="PretrainedAttribute.Source"/>.</summary>
public sealed record PretrainedLoadOptions
{
    /// <summary>The defaults: relative sources resolve against the current directory.</summary>
    public static PretrainedLoadOptions Default { get; } = new();

    /// <summary>The folder relative sources resolve against; <see langword="null"/> means the current directory.</summary>
    public string? BaseDirectory { get; init; }
}
