using System;
using System.IO;
using System.Linq;
using CheckpointGen.Reliability;

// The reliability harness at length:
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- fuzz 100000 [seed]
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- crash 200 [seed]
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- crash-async 200 [seed]
//   dotnet run --project tests/CheckpointGen.Reliability -c Release -- header|training|race|pickle 10000 [seed]
// and the child processes: save-loop PATH, async-save-loop FOLDER (of the crash tests), race-child CASES SEED FOLDER (of race).
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
if (command == "race-child" && args.Length == 4)
{
    var child = InPlaceRace.RunHere(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture), args[3]);
    child.Failures.ForEach(Console.WriteLine);
    child.Notes.ForEach(note => Console.WriteLine("note: " + note));
    Console.WriteLine(child.ToLine());
    return 0;
}
string[] families = ["fuzz", "crash", "crash-async", "header", "training", "race", "pickle"];
if (!families.Contains(command) || args.Length > 3)
{
    Console.Error.WriteLine("usage: fuzz|crash|crash-async|header|training|race|pickle [cases] [seed] | save-loop PATH | async-save-loop FOLDER | race-child CASES SEED FOLDER");
    return 2;
}
var count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : command switch { "fuzz" => 100_000, "crash" or "crash-async" => 200, _ => 10_000 };
var seed = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1;
var folder = Directory.CreateTempSubdirectory("checkpointgen-reliability-").FullName;
try
{
    var (summary, failures, clean) = command switch
    {
        "fuzz" => CheckpointFuzzer.Run(count, seed, folder) is var fuzz ? (fuzz.ToString(), fuzz.Failures, fuzz.UnexpectedExceptions == 0 && fuzz.ChangedModels == 0) : default,
        "crash" => CrashHarness.Run(count, seed, folder) is var crash ? (crash.ToString(), crash.Failures, crash.LostCheckpoints == 0) : default,
        "crash-async" => AsyncCrashHarness.Run(count, seed, folder) is var run ? (run.ToString(), run.Failures, run.Failures.Count == 0 && run.LeftTemporaryFiles == 0) : default,
        _ => (command switch
        {
            "header" => HeaderFuzzer.Run(count, seed, folder),
            "training" => TrainingFuzzer.Run(count, seed, folder),
            "race" => InPlaceRace.Run(count, seed, folder),
            _ => PickleFuzzer.Run(count, seed, folder),
        }) is var family ? (family.ToString(), (System.Collections.Generic.IReadOnlyList<string>)family.Failures, family.Clean) : default,
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
