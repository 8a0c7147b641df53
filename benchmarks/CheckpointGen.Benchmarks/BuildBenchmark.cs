using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using CheckpointGen.Testing;

namespace CheckpointGen.Benchmarks;

/// <summary>
/// What the generator and analyzers add to a build: a project of many [Pretrained] models built with and without them
/// (the same sources; without them the generated members are not called), alternately, with the compiler server warm.
/// </summary>
public static class BuildBenchmark
{
    public static int Run(string folder, int types, int repetitions = 3)
    {
        WriteProject(folder, types);
        var bin = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var torchSharp = typeof(TorchSharp.torch).Assembly.GetName().Version!.ToString(3);
        Dotnet(folder, "restore", "Models.csproj", $"-p:TorchSharpVersion={torchSharp}");
        (string Name, string Generator, string Analyzers)[] variants = [("without CheckpointGen", "false", "false"), ("generator only", "true", "false"), ("generator and analyzers", "true", "true")];
        var times = variants.ToDictionary(v => v.Name, _ => new List<(double Wall, double CompilerCpu)>());
        for (var repetition = 0; repetition <= repetitions; repetition++)
        {
            // The order turns each repetition, so that a build never always follows the same one.
            foreach (var (name, generator, analyzers) in repetition % 2 == 0 ? variants : Enumerable.Reverse(variants))
            {
                var compilerCpu = CompilerServerCpu();
                var clock = Stopwatch.StartNew();
                Dotnet(folder, "build", "Models.csproj", "--no-restore", "--no-incremental", "-c", "Release",
                    $"-p:WithGenerator={generator}", $"-p:WithAnalyzers={analyzers}", $"-p:CheckpointGenBin={bin}", $"-p:TorchSharpVersion={torchSharp}");
                if (repetition > 0)
                {
                    times[name].Add((clock.Elapsed.TotalMilliseconds, (CompilerServerCpu() - compilerCpu).TotalMilliseconds));
                }
            }
        }
        // Each repetition's ratio to the build without beside it: the machine's pace drifts between repetitions by more
        // than the distance to the goal, while the builds of one repetition run within seconds of each other.
        var without = times[variants[0].Name];
        double Paired(string name, Func<(double Wall, double CompilerCpu), double> measure)
            => Statistics.Median(times[name].Select((t, i) => measure(t) / measure(without[i])));
        var ratio = Paired(variants[^1].Name, t => t.Wall);
        Console.WriteLine($"| build of {types} model types (median of {repetitions} rebuilds) | time | ratio to without | compiler server CPU | ratio to without |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (name, _, _) in variants)
        {
            var compilerCpu = Statistics.Median(times[name].Select(t => t.CompilerCpu));
            var compilerColumns = compilerCpu > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{compilerCpu / 1000:F2} s | {Paired(name, t => t.CompilerCpu):F3}")
                : "not found | ";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {Statistics.Median(times[name].Select(t => t.Wall)) / 1000:F2} s | {Paired(name, t => t.Wall):F3} | {compilerColumns} |"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| goal: generator and analyzers ≤ 1.30 × without (aim 1.10 ×) | | {(ratio <= 1.30 ? "PASS" : "FAIL")} | | |"));

        // What the compiler itself reports: the analyzers' execution time (-p:ReportAnalyzer=true) against the compile step.
        var shares = new List<(double Analyzers, double Compile)>();
        for (var repetition = 0; repetition < repetitions; repetition++)
        {
            var log = Dotnet(folder, "build", "Models.csproj", "--no-restore", "--no-incremental", "-c", "Release", "-v:d", "-clp:PerformanceSummary", "-p:ReportAnalyzer=true",
                "-p:WithGenerator=true", "-p:WithAnalyzers=true", $"-p:CheckpointGenBin={bin}", $"-p:TorchSharpVersion={torchSharp}");
            shares.Add((ReportedSeconds(log, "CheckpointGen.Analyzers, Version="), CoreCompileSeconds(log)));
        }
        // The repetition with the median share, so that the seconds printed beside the share are that repetition's.
        var typical = shares.OrderBy(s => s.Analyzers / s.Compile).ElementAt(shares.Count / 2);
        var share = typical.Analyzers / typical.Compile;
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| CheckpointGen analyzers, as the compiler reports them (ReportAnalyzer, median of {repetitions}) | {typical.Analyzers:F2} s of a {typical.Compile:F2} s compile step | {share:P1} |"));
        return ratio <= 1.30 ? 0 : 1;
    }

    /// <summary>
    /// The CPU time the compiler server (which every build here shares) has used so far: what the compilations cost,
    /// without MSBuild's own work, which is the same with and without CheckpointGen. Zero where no process of that name
    /// runs (an SDK that starts it as 'dotnet VBCSCompiler.dll').
    /// </summary>
    private static TimeSpan CompilerServerCpu()
    {
        var total = TimeSpan.Zero;
        foreach (var process in Process.GetProcessesByName("VBCSCompiler"))
        {
            using (process)
            {
                try
                {
                    total += process.TotalProcessorTime;
                }
                catch (InvalidOperationException)
                {
                    // The server exited since it was listed.
                }
            }
        }
        return total;
    }

    /// <summary>The seconds a '-p:ReportAnalyzer=true' build reports for an analyzer assembly ("  0.262   39   CheckpointGen.Analyzers, Version=...").</summary>
    private static double ReportedSeconds(string log, string assembly)
    {
        var line = log.Split('\n').FirstOrDefault(l => l.Contains(assembly, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"The build reported no time for {assembly}.");
        var seconds = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return seconds.StartsWith('<') ? 0 : double.Parse(seconds, CultureInfo.InvariantCulture);
    }

    /// <summary>The CoreCompile target's time from MSBuild's performance summary ("  2555 ms  CoreCompile   1 calls").</summary>
    private static double CoreCompileSeconds(string log)
    {
        var line = log.Split('\n').First(l => l.Contains(" ms  CoreCompile", StringComparison.Ordinal));
        return double.Parse(line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture) / 1000;
    }

    private static void WriteProject(string folder, int types)
    {
        File.WriteAllText(Path.Combine(folder, "Models.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <UseSharedCompilation>true</UseSharedCompilation>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="TorchSharp" Version="$(TorchSharpVersion)" />
                <Reference Include="$(CheckpointGenBin)/CheckpointGen.dll" />
              </ItemGroup>
              <ItemGroup Condition="'$(WithGenerator)' == 'true'">
                <Analyzer Include="$(CheckpointGenBin)/CheckpointGen.Generator.dll" />
              </ItemGroup>
              <ItemGroup Condition="'$(WithAnalyzers)' == 'true'">
                <Analyzer Include="$(CheckpointGenBin)/CheckpointGen.Analyzers.dll" />
              </ItemGroup>
              <PropertyGroup Condition="'$(WithGenerator)' == 'true'">
                <DefineConstants>$(DefineConstants);CHECKPOINTGEN</DefineConstants>
              </PropertyGroup>
            </Project>
            """);
        foreach (var (name, text) in Sources(types))
        {
            File.WriteAllText(Path.Combine(folder, name), text);
        }
    }

    /// <summary>The project's source files, ten model types each; with CHECKPOINTGEN defined, their constructors freeze.</summary>
    public static IEnumerable<(string Name, string Text)> Sources(int types)
    {
        for (var file = 0; file * 10 < types; file++)
        {
            var text = new StringBuilder("""
                using CheckpointGen;
                using TorchSharp.Modules;
                using static TorchSharp.torch;

                namespace Models;

                """);
            foreach (var i in Enumerable.Range(file * 10, Math.Min(10, types - file * 10)))
            {
                text.Append(CultureInfo.InvariantCulture, $$"""

                    public sealed partial class Model{{i}} : nn.Module<Tensor, Tensor>
                    {
                        [Pretrained("weights/model{{i}}.safetensors")]
                        private readonly Linear encoder = nn.Linear(16, 16);
                        private readonly Linear head = nn.Linear(16, 4);

                        public Model{{i}}() : base("model{{i}}")
                        {
                            RegisterComponents();
                    #if CHECKPOINTGEN
                            FreezePretrained();
                    #endif
                        }

                        public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));

                        public optim.Optimizer Optimizer() => optim.Adam(head.parameters(), lr: 0.001);
                    }

                    """);
            }
            yield return ($"Models{file}.cs", text.ToString());
        }
    }

    private static string Dotnet(string folder, params string[] arguments)
    {
        var result = ProcessRunner.Run("dotnet", arguments.Append("-nologo"), folder);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed:\n{result.Output}\n{result.Error}");
        }
        return result.Output;
    }
}
