using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace CheckpointGen.Tool;

/// <summary>How a line reads: plain, or marked when a person looks at a terminal.</summary>
internal enum Tone
{
    Plain,
    Heading,
    Good,
    Bad,
}

/// <summary>
/// Where a command's report goes. A terminal gets colours, tables and a progress bar; anything else (a pipe, a file)
/// gets plain lines, never wrapped and without markup, so that a script can read them.
/// </summary>
internal abstract class Output
{
    public static Output ForStandardOutput() => Console.IsOutputRedirected ? new TextOutput(Console.Out) : new TerminalOutput();

    public abstract void Line(string text, Tone tone = Tone.Plain);

    public abstract void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows);

    /// <summary>The checksum of the file's data as it is on disk now.</summary>
    public virtual string Hash(CheckpointFile file) => file.ActualChecksum();

    /// <summary>An error, on standard error: in red on a terminal, plain otherwise.</summary>
    public static void Error(string message)
    {
        if (Console.IsErrorRedirected)
        {
            Console.Error.WriteLine($"error: {message}");
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.MarkupLineInterpolated($"[red]error:[/] {message}");
    }

    /// <summary>
    /// A report as indented JSON on standard output: camelCase names, enums as lowercase strings, text as it is (a quote
    /// as <c>\"</c>, not <c>\u0022</c>: the output goes to a terminal or a script, never into HTML).
    /// </summary>
    public static void Json(object report) => Console.Out.WriteLine(JsonSerializer.Serialize(report, JsonOptions));

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };
}

/// <summary>Spectre.Console on a terminal.</summary>
internal sealed class TerminalOutput : Output
{
    public override void Line(string text, Tone tone = Tone.Plain)
    {
        var escaped = Markup.Escape(text);
        AnsiConsole.MarkupLine(tone switch
        {
            Tone.Heading => $"[bold]{escaped}[/]",
            Tone.Good => $"[green]{escaped}[/]",
            Tone.Bad => $"[red]{escaped}[/]",
            _ => escaped,
        });
    }

    public override void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var table = new Table().AddColumns(headers.Select(Markup.Escape).ToArray());
        foreach (var row in rows)
        {
            table.AddRow(row.Select(Markup.Escape).ToArray());
        }
        AnsiConsole.Write(table);
    }

    /// <summary>With a progress bar for files large enough to wait for.</summary>
    public override string Hash(CheckpointFile file)
    {
        if (file.DataBytes < 64L << 20)
        {
            return file.ActualChecksum();
        }
        var checksum = "";
        AnsiConsole.Progress().Start(context =>
        {
            var task = context.AddTask("hashing", maxValue: file.DataBytes);
            checksum = file.ActualChecksum(bytes => task.Increment(bytes));
        });
        return checksum;
    }
}

/// <summary>Plain lines: a table is columns separated by two spaces, each line as long as it needs to be.</summary>
internal sealed class TextOutput(TextWriter writer) : Output
{
    public override void Line(string text, Tone tone = Tone.Plain) => writer.WriteLine(text);

    public override void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.Prepend(headers).ToList();
        var widths = headers.Select((_, column) => all.Max(row => row[column].Length)).ToArray();
        foreach (var row in all)
        {
            var line = new StringBuilder();
            for (var column = 0; column < row.Count; column++)
            {
                line.Append(column == row.Count - 1 ? row[column] : row[column].PadRight(widths[column] + 2));
            }
            writer.WriteLine(line.ToString().TrimEnd());
        }
    }
}
