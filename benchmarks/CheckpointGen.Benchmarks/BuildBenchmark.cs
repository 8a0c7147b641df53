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
        var times = variants.ToDictionary(v => v.Name, _ => new List<double>());
        for (var repetition = 0; repetition <= repetitions; repetition++)
        {
            foreach (var (name, generator, analyzers) in variants)
            {
                var clock = Stopwatch.StartNew();
                Dotnet(folder, "build", "Models.csproj", "--no-restore", "--no-incremental", "-c", "Release",
                    $"-p:WithGenerator={generator}", $"-p:WithAnalyzers={analyzers}", $"-p:CheckpointGenBin={bin}", $"-p:TorchSharpVersion={torchSharp}");
                if (repetition > 0)
                {
                    times[name].Add(clock.Elapsed.TotalMilliseconds);
                }
            }
        }
        var median = times.ToDictionary(t => t.Key, t => t.Value.Order().ElementAt(repetitions / 2));
        var without = median[variants[0].Name];
        var ratio = median[variants[^1].Name] / without;
        Console.WriteLine($"| build of {types} model types (median of {repetitions} rebuilds) | time | ratio to without |");
        Console.WriteLine("| --- | ---: | ---: |");
        foreach (var (name, _, _) in variants)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {median[name] / 1000:F2} s | {median[name] / without:F3} |"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| goal: generator and analyzers ≤ 1.10 × without | | {(ratio <= 1.10 ? "PASS" : "FAIL")} |"));
        return ratio <= 1.10 ? 0 : 1;
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
            File.WriteAllText(Path.Combine(folder, $"Models{file}.cs"), text.ToString());
        }
    }

    private static void Dotnet(string folder, params string[] arguments)
    {
        var result = ProcessRunner.Run("dotnet", arguments.Append("-nologo"), folder);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed:\n{result.Output}\n{result.Error}");
        }
    }
}
