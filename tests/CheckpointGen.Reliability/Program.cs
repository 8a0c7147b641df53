using System;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;

// The reliability harness at length:
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- fuzz 100000 [seed]
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- crash 200 [seed]
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- crash-async 200 [seed]
// and the child processes of the crash tests: save-loop PATH, async-save-loop FOLDER.
var command = args.FirstOrDefault();
if (command == "save-loop" && args.Length == 2)
{
    CrashHarness.SaveLoop(args[1]);
    return 0;
}
if (command == "async-save-loop" && args.Length == 2)
{
    AsyncCrashHarness.SaveLoop(args[1]);
    return 0;
}
if (command is not ("fuzz" or "crash" or "crash-async") || args.Length > 3)
{
    Console.Error.WriteLine("usage: fuzz [cases] [seed] | crash [kills] [seed] | crash-async [kills] [seed] | save-loop PATH | async-save-loop FOLDER");
    return 2;
}
var count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : command == "fuzz" ? 100_000 : 200;
var seed = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1;
var folder = Directory.CreateTempSubdirectory("checkpointgen-reliability-").FullName;
try
{
    var (summary, failures, clean) = command switch
    {
        "fuzz" => CheckpointFuzzer.Run(count, seed, folder) is var fuzz ? (fuzz.ToString(), fuzz.Failures, fuzz.UnexpectedExceptions == 0 && fuzz.ChangedModels == 0) : default,
        "crash" => CrashHarness.Run(count, seed, folder) is var crash ? (crash.ToString(), crash.Failures, crash.LostCheckpoints == 0) : default,
        _ => AsyncCrashHarness.Run(count, seed, folder) is var run ? (run.ToString(), run.Failures, run.Failures.Count == 0 && run.LeftTemporaryFiles == 0) : default,
    };
    Console.WriteLine($"seed {seed}: {summary}");
    foreach (var failure in failures.Take(20))
    {
        Console.WriteLine("  " + failure);
    }
    return clean ? 0 : 1;
}
finally
{
    Directory.Delete(folder, recursive: true);
}
