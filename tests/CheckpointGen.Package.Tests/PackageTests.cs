using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using CheckpointGen.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace CheckpointGen.Package.Tests;

/// <summary>
/// The package as a user meets it: packed fresh, referenced from a local feed by a brand-new console project outside
/// the repository together with TorchSharp-cpu and nothing else, built (the CKPT warning for its one misuse shows, and
/// the package's own build step makes TorchSharp's native library loadable here), run and published (save and load work).
/// </summary>
public sealed class PackageTests(PackageTests.Feed feed, ITestOutputHelper output) : IClassFixture<PackageTests.Feed>
{
    private const string Program = """
        using CheckpointGen;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        // The same frozen encoder weights in both models (a real program would call LoadPretrained()).
        manual_seed(1);
        using var model = new Demo();
        model.SaveCheckpoint("demo.safetensors");
        manual_seed(1);
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

    private const string Ran = "loaded head.bias,head.weight; frozen part left out: encoder.";
    private const string Patched = "lacks GLIBCXX_3.4.32, which TorchSharp's native library asks for; marked that one requirement weak";
    private const string NativeLibrary = "runtimes/linux-x64/native/libLibTorchSharp.so";

    /// <summary>Whether this machine's libstdc++ predates TorchSharp's native library (Debian 12, Ubuntu 22.04).</summary>
    private static readonly bool NeedsNativeFix = OperatingSystem.IsLinux()
        && new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6" }
            .FirstOrDefault(File.Exists) is { } libstdcxx
        && !Encoding.ASCII.GetString(File.ReadAllBytes(libstdcxx)).Contains("GLIBCXX_3.4.32", StringComparison.Ordinal);

    [Fact]
    public void A_new_project_with_only_the_two_package_references_builds_runs_and_publishes_here()
    {
        var app = NewProject("app", extraProperties: "");

        var build = Run(app, "dotnet", "build", "-nologo");
        var misuse = Program.Split('\n').ToList().FindIndex(line => line.StartsWith("model.save(", StringComparison.Ordinal)) + 1;
        Assert.Contains($"Program.cs({misuse},1): warning CKPT021", build);
        Assert.Contains($"use SaveCheckpoint(...) ({RepositoryUrl()}/blob/main/docs/diagnostics/CKPT021.md)", build);
        Assert.DoesNotContain("warning CS8032", build);
        var copy = Path.Combine(app, "bin", "Debug", "net10.0", NativeLibrary);
        var cached = CachedNativeLibrary(app);
        if (NeedsNativeFix)
        {
            Assert.Contains($"{Patched} (only std::ios_base_library_init carries it, and nothing calls it) in the copy {copy} so that it loads", build);
            Assert.Contains("set the MSBuild property CheckpointGenPatchTorchSharpNative to false", build);
            // The copy differs from the package's file in the one flag byte.
            var (patched, original) = (File.ReadAllBytes(copy), File.ReadAllBytes(cached));
            Assert.Equal(original.Length, patched.Length);
            Assert.Single(Enumerable.Range(0, patched.Length), i => patched[i] != original[i]);
        }
        else
        {
            Assert.DoesNotContain(Patched, build);
            Assert.Equal(File.ReadAllBytes(cached), File.ReadAllBytes(copy));
        }
        // The NuGet cache still holds the file as shipped.
        Assert.Equal(AsShipped(cached), File.ReadAllBytes(cached));

        Assert.Contains(Ran, Run(app, "dotnet", "run", "--no-build"));
        // dotnet run builds again, which copies the library from the NuGet cache again.
        Assert.Contains(Ran, Run(app, "dotnet", "run"));

        // A RID-specific publish puts the native libraries in the publish folder's root.
        var published = Path.Combine(app, "published");
        var publish = Run(app, "dotnet", "publish", "-nologo", "-r", "linux-x64", "--self-contained", "false", "-o", published);
        if (NeedsNativeFix)
        {
            Assert.Contains($"{Patched} (only std::ios_base_library_init carries it, and nothing calls it) in the copy {Path.Combine(published, "libLibTorchSharp.so")} so that it loads", publish);
        }
        Assert.Contains(Ran, Run(app, "dotnet", Path.Combine(published, "App.dll")));
    }

    [Fact]
    public void The_native_fix_is_turned_off_by_its_property()
    {
        var app = NewProject("app-off", extraProperties: "<CheckpointGenPatchTorchSharpNative>false</CheckpointGenPatchTorchSharpNative>");

        var build = Run(app, "dotnet", "build", "-nologo");

        Assert.DoesNotContain("CheckpointGen: ", build);
        var cached = CachedNativeLibrary(app);
        Assert.Equal(AsShipped(cached), File.ReadAllBytes(Path.Combine(app, "bin", "Debug", "net10.0", NativeLibrary)));
    }

    [Fact]
    public void Every_diagnostic_links_to_its_page_in_the_repository_the_package_declares()
    {
        var repository = RepositoryUrl();
        Assert.StartsWith("https://", repository, StringComparison.Ordinal);

        // The analyzers as shipped, loaded and asked for their descriptors as a compiler would.
        using var package = ZipFile.OpenRead(Package());
        var analyzers = Path.Combine(feed.Work, "CheckpointGen.Analyzers.dll");
        package.GetEntry("analyzers/dotnet/roslyn4.8/cs/CheckpointGen.Analyzers.dll")!.ExtractToFile(analyzers, overwrite: true);
        var descriptors = AssemblyLoadContext.Default.LoadFromAssemblyPath(analyzers).GetTypes()
            .Where(type => !type.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(type))
            .SelectMany(type => ((DiagnosticAnalyzer)Activator.CreateInstance(type)!).SupportedDiagnostics)
            .DistinctBy(descriptor => descriptor.Id)
            .ToList();

        Assert.True(descriptors.Count >= 9, $"only {descriptors.Count} diagnostics found in {analyzers}");
        Assert.All(descriptors, descriptor =>
        {
            Assert.Equal($"{repository}/blob/main/docs/diagnostics/{descriptor.Id}.md", descriptor.HelpLinkUri);
            Assert.True(File.Exists(Path.Combine(RepositoryRoot(), "docs", "diagnostics", $"{descriptor.Id}.md")), $"{descriptor.HelpLinkUri} has no page in docs/diagnostics");
        });
    }

    /// <summary>The package, packed once for the class.</summary>
    private string Package()
    {
        var root = RepositoryRoot();
        lock (feed)
        {
            if (!Directory.Exists(feed.Folder))
            {
                Run(root, "dotnet", "pack", Path.Combine(root, "src", "Runtime", "CheckpointGen.Runtime.csproj"), "-c", "Release", "-o", feed.Folder, $"-p:PackageVersion={feed.Version}");
            }
        }
        var package = Assert.Single(Directory.GetFiles(feed.Folder, "*.nupkg"));
        Assert.Equal($"CheckpointGen.{feed.Version}.nupkg", Path.GetFileName(package));
        return package;
    }

    /// <summary>The <c>repository</c> URL of the packed package's nuspec.</summary>
    private string RepositoryUrl()
    {
        using var package = ZipFile.OpenRead(Package());
        using var nuspec = package.GetEntry("CheckpointGen.nuspec")!.Open();
        var repository = XDocument.Load(nuspec).Descendants().Single(element => element.Name.LocalName == "repository");
        Assert.Equal("git", repository.Attribute("type")?.Value);
        return repository.Attribute("url")?.Value ?? throw new InvalidOperationException("the nuspec's <repository> has no url");
    }

    /// <summary>A console project in a folder of its own under the temporary folder, far from the repository's build files.</summary>
    private string NewProject(string name, string extraProperties)
    {
        var root = RepositoryRoot();
        Package();

        var app = Path.Combine(feed.Work, name);
        Assert.False(app.StartsWith(root, StringComparison.Ordinal), $"{app} must be outside the repository {root}");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed.Folder}" />
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
                {extraProperties}
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="CheckpointGen" Version="{feed.Version}" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), Program);
        return app;
    }

    /// <summary>TorchSharp's native library in the NuGet cache, where restore put it for <paramref name="app"/>.</summary>
    private string CachedNativeLibrary(string app)
    {
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "obj", "project.assets.json")));
        var packages = assets.RootElement.GetProperty("packageFolders").EnumerateObject().First().Name;
        feed.PackagesFolder = packages;
        var torchSharp = assets.RootElement.GetProperty("libraries").EnumerateObject()
            .Single(library => library.Name.StartsWith("TorchSharp/", StringComparison.Ordinal)).Value.GetProperty("path").GetString()!;
        return Path.Combine(packages, torchSharp, NativeLibrary);
    }

    /// <summary>The library's bytes as the TorchSharp package ships them, read from the .nupkg beside the extracted file.</summary>
    private static byte[] AsShipped(string cached)
    {
        var folder = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(cached)!, "..", "..", ".."));
        using var package = ZipFile.OpenRead(Assert.Single(Directory.GetFiles(folder, "*.nupkg")));
        using var entry = package.GetEntry(NativeLibrary)!.Open();
        using var bytes = new MemoryStream();
        entry.CopyTo(bytes);
        return bytes.ToArray();
    }

    private string Run(string directory, string command, params string[] arguments)
    {
        var result = ProcessRunner.Run(command, arguments, directory);
        output.WriteLine($"$ {command} {string.Join(' ', arguments)}\n{result.Log}");
        Assert.True(result.ExitCode == 0, $"{command} {string.Join(' ', arguments)} failed:\n{result.Log}");
        return result.Output;
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));

    /// <summary>
    /// One package for the class, in a version of its own so that no earlier package in the NuGet cache stands in for
    /// it; the work folder and that version's copy in the NuGet cache are removed afterwards.
    /// </summary>
    public sealed class Feed : IDisposable
    {
        public string Work { get; } = Directory.CreateTempSubdirectory("checkpointgen-package-").FullName;

        public string Folder => Path.Combine(Work, "feed");

        public string Version { get; } = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";

        public string? PackagesFolder { get; set; }

        public void Dispose()
        {
            // The shared NuGet cache first: a test version left there is litter on every later run.
            if (PackagesFolder is not null && Directory.Exists(Path.Combine(PackagesFolder, "checkpointgen", Version)))
            {
                Directory.Delete(Path.Combine(PackagesFolder, "checkpointgen", Version), recursive: true);
            }
            Directory.Delete(Work, recursive: true);
        }
    }
}
