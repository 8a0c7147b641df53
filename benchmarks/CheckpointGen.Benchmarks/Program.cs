using System;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Running;
using CheckpointGen.Benchmarks;

// quick (default): one table with every goal, PASS or FAIL.     dotnet run -c Release --project benchmarks/CheckpointGen.Benchmarks
// build: generator + analyzers' share of a 500-model build.      ... -- build [types] [repetitions]
// async: the training loop's stall in an asynchronous CheckpointManager save, 64 MB and 1 GB.   ... -- async [repetitions]
// analyzers: the analyzers' CPU time in a 500-model compilation.   ... -- analyzers [types] [repetitions]
// anything else goes to BenchmarkDotNet for the detailed numbers: ... -- --filter '*'
var mode = args.FirstOrDefault() ?? "quick";
var folder = Directory.CreateTempSubdirectory("checkpointgen-bench-").FullName;
try
{
    return mode switch
    {
        "quick" => QuickBenchmark.Run(folder, repetitions: args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 15),
        "build" => BuildBenchmark.Run(
            folder,
            types: args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 500,
            repetitions: args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3),
        "async" => AsyncBenchmark.Run(folder, repetitions: args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 7),
        "analyzers" => AnalyzerBenchmark.Run(
            types: args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 500,
            repetitions: args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 7),
        _ => BenchmarkSwitcher.FromAssembly(typeof(BenchModel).Assembly).Run(args) is var summaries && summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0,
    };
}
finally
{
    Directory.Delete(folder, recursive: true);
}
