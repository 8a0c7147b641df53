using System;

namespace CheckpointGen;

/// <summary>The file is not a valid checkpoint (or pretrained weights file); the message says what is wrong and where.</summary>
public sealed class CheckpointFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="source"/>.</summary>
    public CheckpointFormatException(string source, string problem, Exception? inner = null)
        : base($"'{source}' is not a valid checkpoint: {problem}", inner)
    {
        Source = source;
        Problem = problem;
    }

    /// <summary>The file (or stream description) that was read.</summary>
    public new string Source { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
