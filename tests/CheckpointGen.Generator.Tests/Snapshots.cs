using System;
using System.IO;
using System.Runtime.CompilerServices;

namespace CheckpointGen.Generator.Tests;

/// <summary>
/// Checked-in expected files. Set CHECKPOINTGEN_UPDATE_SNAPSHOTS=1 to rewrite them when a change to the
/// generated code is intended, then review the diff.
/// </summary>
internal static class Snapshots
{
    public static bool Updating => Environment.GetEnvironmentVariable("CHECKPOINTGEN_UPDATE_SNAPSHOTS") == "1";

    public static string ProjectDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    public static string ReadCase(string name) => File.ReadAllText(Path.Combine(ProjectDirectory(), "Cases", name + ".cs"));

    public static string Folder(string name) => Path.Combine(ProjectDirectory(), "Snapshots", name);
}
