using System.Globalization;
using System.Text;

namespace CheckpointGen.Format;

/// <summary>
/// Text read from a file, made fit for a message: control characters escaped and the length bounded, so that a hostile
/// or foreign file (a symlink to a password file named as a shard) never pours its content into logs.
/// </summary>
internal static class Fragment
{
    public const int MaxLength = 100;

    /// <summary>The text in single quotes, escaped, at most <see cref="MaxLength"/> characters of it.</summary>
    public static string Quote(string text) => $"'{Escape(text)}'" + (text.Length > MaxLength ? $"... ({text.Length.ToString(CultureInfo.InvariantCulture)} characters)" : "");

    /// <summary>At most <see cref="MaxLength"/> characters of the text, control characters, quotes and backslashes escaped.</summary>
    public static string Escape(string text)
    {
        var quoted = new StringBuilder();
        foreach (var c in text.Length > MaxLength ? text[..MaxLength] : text)
        {
            if (char.IsControl(c) || char.IsSurrogate(c) || c is '\'' or '\\')
            {
                quoted.Append(c is '\'' or '\\' ? $"\\{c}" : $"\\u{(int)c:x4}");
            }
            else
            {
                quoted.Append(c);
            }
        }
        return quoted.ToString();
    }
}
