using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Xunit;
using Xunit.Abstractions;

namespace CheckpointGen.Package.Tests;

/// <summary>
/// The package as a user meets it: packed fresh, referenced from a local feed by a brand-new console project together
/// with TorchSharp-cpu, built (the CKPT warning for its one misuse shows) and run (save and load work).
/// </summary>
public sealed class PackageTests(ITestOutputHelper output)
{
    private const string Program = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        using var model = new Demo();
        model.SaveCheckpoint("demo.safetensors");
        using var restored = new Demo();
        var report = restored.LoadCheckpoint("demo.safetensors");
        Console.WriteLine($"loaded {string.Join(",", report.LoadedKeys.Order())}; frozen part left out: {string.Join(",", model.PretrainedPrefixes)}");
        model.save("full.dat");

        public sealed partial class Demo : nn.Module<Tensor, Tensor>
        {
            [Pretrained] private readonly Linear encoder = nn.Linear(8, 8);
            private readonly Linear head = nn.Linear(8, 2);

            public Demo() : base(nameof(Demo))
            {
                RegisterComponents();
                FreezePretrained();
            }

            public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
        }
        """;

    [Fact]
    public void A_new_project_referencing_the_package_gets_the_generated_methods_and_the_warnings()
    {
        var root = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("checkpointgen-package-").FullName;
        try
        {
            // A version of its own, so that no earlier package in the NuGet cache stands in for this one.
            var version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
            var feed = Path.Combine(work, "feed");
            Run(root, "dotnet", "pack", Path.Combine(root, "src", "Runtime", "CheckpointGen.Runtime.csproj"), "-c", "Release", "-o", feed, $"-p:PackageVersion={version}");
            var package = Assert.Single(Directory.GetFiles(feed, "*.nupkg"));
            Assert.Equal($"CheckpointGen.{version}.nupkg", Path.GetFileName(package));

            var app = Path.Combine(work, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="CheckpointGen" Version="{version}" />
                    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                  </ItemGroup>
                </Project>
                """);
            // This machine's libstdc++ predates TorchSharp's native library; the project fixes it in every build.
            File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), $"""
                <Project>
                  <Import Project="{Path.Combine(root, "build", "TorchSharpNativeFix.targets")}" />
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), Program);

            var build = Run(app, "dotnet", "build", "-nologo");
            var misuse = Program.Split('\n').ToList().FindIndex(line => line.StartsWith("model.save(", StringComparison.Ordinal)) + 1;
            Assert.Contains($"Program.cs({misuse},1): warning CKPT021", build);
            Assert.DoesNotContain("warning CS8032", build);

            var run = Run(app, "dotnet", "run", "--no-build");
            Assert.Contains("loaded head.bias,head.weight; frozen part left out: encoder.", run);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private string Run(string directory, string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var text = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), $"{command} {string.Join(' ', arguments)} did not finish");
        output.WriteLine($"$ {command} {string.Join(' ', arguments)}\n{text}{error.Result}");
        Assert.True(process.ExitCode == 0, $"{command} {string.Join(' ', arguments)} failed:\n{text}{error.Result}");
        return text;
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));
}
