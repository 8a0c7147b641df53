using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;

namespace CheckpointGen.Testing;

/// <summary>What a finished process wrote and returned.</summary>
internal sealed record ProcessResult(int ExitCode, string Output, string Error)
{
    /// <summary>Standard output, then standard error.</summary>
    public string Log => Output + Error;
}

/// <summary>
/// Runs a command as a user would from a shell, for the tests, the reliability harness and the benchmarks. Arguments go
/// one by one (no quoting rules to get wrong) and both streams are captured.
/// </summary>
internal static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Starts the command with its output and error redirected, for a caller that reads them while it runs.</summary>
    public static Process Start(string command, IEnumerable<string> arguments, string? directory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (directory is not null)
        {
            start.WorkingDirectory = directory;
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        return Process.Start(start) ?? throw new InvalidOperationException($"'{command}' did not start.");
    }

    /// <summary>Runs the command to its end. One that outlives <paramref name="timeout"/> (default five minutes) is killed with its children and throws.</summary>
    public static ProcessResult Run(string command, IEnumerable<string> arguments, string? directory = null, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var argumentList = arguments.ToArray();
        using var process = Start(command, argumentList, directory, environment);
        // Both streams are drained at once: a child that fills one pipe while nobody reads it would never exit.
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        var limit = timeout ?? DefaultTimeout;
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"'{command} {string.Join(' ', argumentList)}' did not finish in {limit}:\n{output.Result}{error.Result}");
        }
        return new ProcessResult(process.ExitCode, output.Result, error.Result);
    }
}
