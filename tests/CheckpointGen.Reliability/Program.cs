using System;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;

// The reliability harness at length:
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- fuzz 100000 [seed]
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- crash 200 [seed]
// and the child process of the crash test: save-loop PATH.
var command = args.FirstOrDefault();
if (command == "save-loop" && args.Length == 2)
{
    CrashHarness.SaveLoop(args[1]);
    return 0;
}
if (command is not ("fuzz" or "crash") || args.Length > 3)
{
    Console.Error.WriteLine("usage: fuzz [cases] [seed] | crash [kills] [seed] | save-loop PATH");
    return 2;
}
var count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : command == "fuzz" ? 100_000 : 200;
var seed = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1;
var folder = Directory.CreateTempSubdirectory("checkpointgen-reliability-").FullName;
try
{
    var (summary, failures, clean) = command == "fuzz"
        ? CheckpointFuzzer.Run(count, seed, folder) is var fuzz ? (fuzz.ToString(), fuzz.Failures, fuzz.UnexpectedExceptions == 0 && fuzz.ChangedModels == 0) : default
        : CrashHarness.Run(count, seed, folder) is var crash ? (crash.ToString(), crash.Failures, crash.LostCheckpoints == 0) : default;
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
