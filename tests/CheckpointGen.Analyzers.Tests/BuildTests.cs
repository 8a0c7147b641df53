using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using CheckpointGen.Testing;
using Xunit;
using Xunit.Abstractions;

namespace CheckpointGen.Analyzers.Tests;

/// <summary>
/// The analyzers and the generator loaded by the real compiler: a user's project (UserProject/) references them as
/// analyzers and is built with 'dotnet build'. Each line marked "// expect: severity id" must be reported exactly so,
/// and nothing else: correct code, a #pragma and the .editorconfig severity included.
/// </summary>
public sealed partial class BuildTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"^(?<file>[^\s(][^(]*)\((?<line>\d+),\d+\): (?<severity>warning|error) (?<id>CKPT\d{3}):", RegexOptions.Multiline)]
    private static partial Regex Diagnostic();

    [GeneratedRegex(@"// expect: (?<severity>warning|error) (?<id>CKPT\d{3})")]
    private static partial Regex Expectation();

    [Fact]
    public void Dotnet_build_reports_each_misuse_at_its_line_and_nothing_for_correct_code()
    {
        var project = Directory.CreateTempSubdirectory("checkpointgen-user-").FullName;
        try
        {
            var template = Path.Combine(AppContext.BaseDirectory, "UserProject");
            foreach (var file in Directory.GetFiles(template, "*.cs"))
            {
                File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
            }
            File.Copy(Path.Combine(template, "editorconfig"), Path.Combine(project, ".editorconfig"));
            File.Copy(Path.Combine(template, "UserProject.csproj.in"), Path.Combine(project, "UserProject.csproj"));

            var build = ProcessRunner.Run("dotnet",
                [
                    "build", "UserProject.csproj", "-nologo", "--disable-build-servers",
                    $"-p:CheckpointGenBin={AppContext.BaseDirectory.TrimEnd('/')}",
                    $"-p:TorchSharpVersion={typeof(TorchSharp.torch).Assembly.GetName().Version!.ToString(3)}",
                ],
                project);
            output.WriteLine(build.Log);

            var expected = Directory.GetFiles(project, "*.cs")
                .SelectMany(file => File.ReadAllLines(file).Select((text, index) => (file, line: index + 1, match: Expectation().Match(text))))
                .Where(x => x.match.Success)
                .Select(x => $"{Path.GetFileName(x.file)}:{x.line}: {x.match.Groups["severity"].Value} {x.match.Groups["id"].Value}")
                .Order()
                .ToArray();
            var actual = Diagnostic().Matches(build.Log)
                .Select(m => $"{Path.GetFileName(m.Groups["file"].Value)}:{m.Groups["line"].Value}: {m.Groups["severity"].Value} {m.Groups["id"].Value}")
                .Distinct()
                .Order()
                .ToArray();

            Assert.Equal(14, expected.Length);
            Assert.Equal(expected, actual);
            Assert.NotEqual(0, build.ExitCode);
            Assert.DoesNotContain("warning CS8032", build.Log); // an analyzer that failed to load
            Assert.DoesNotMatch(@"error CS\d{4}", build.Log); // the user's code itself compiles: only CheckpointGen's errors fail the build
        }
        finally
        {
            Directory.Delete(project, recursive: true);
        }
    }
}
