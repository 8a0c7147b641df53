using System.Globalization;
using System.IO.Hashing;
using System.Linq;

namespace CheckpointGen.Format;

/// <summary>The text form of a checksum as a file records it: <c>xxh3-64:</c> and 16 lowercase hex digits.</summary>
internal static class Checksum
{
    public const string Algorithm = "xxh3-64:";

    /// <summary>A value of the final length, for a header written before its data has been hashed.</summary>
    public static string Placeholder { get; } = Algorithm + new string('0', 16);

    public static string Format(XxHash3 hash) => Algorithm + hash.GetCurrentHashAsUInt64().ToString("x16", CultureInfo.InvariantCulture);

    public static bool IsWellFormed(string value)
    {
        var digits = value.StartsWith(Algorithm, System.StringComparison.Ordinal) ? value[Algorithm.Length..] : "";
        return digits.Length == 16 && digits.All(char.IsAsciiHexDigitLower);
    }
}
