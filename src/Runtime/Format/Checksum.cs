using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace CheckpointGen.Format;

/// <summary>
/// The checksum of a file's tensors: xxHash3 over the tensor table (each tensor's key, dtype, shape and data offsets, in
/// file order) and then the data section, so that neither bytes nor the entries describing them can change unnoticed.
/// Files of the first layout checksummed the data only. Recorded as <c>xxh3-64:</c> and 16 lowercase hex digits.
/// </summary>
internal static class Checksum
{
    public const string Algorithm = "xxh3-64:";

    /// <summary>A value of the final length, for a header written before its data has been hashed.</summary>
    public static string Placeholder { get; } = Algorithm + new string('0', 16);

    /// <summary>A hash that has taken in the table of <paramref name="entries"/> (offsets from <paramref name="dataStart"/>) when <paramref name="coversTable"/>.</summary>
    public static Xxh3 Start(IEnumerable<TensorEntry> entries, long dataStart, bool coversTable = true)
    {
        var hash = new Xxh3();
        if (coversTable)
        {
            Span<byte> number = stackalloc byte[8];
            foreach (var entry in entries.OrderBy(e => e.Offset))
            {
                // Lengths before every variable part: no two tables hash the same bytes.
                var key = Encoding.UTF8.GetBytes(entry.Key);
                BinaryPrimitives.WriteInt64LittleEndian(number, key.Length);
                hash.Append(number);
                hash.Append(key);
                BinaryPrimitives.WriteInt64LittleEndian(number, (long)entry.Dtype);
                hash.Append(number);
                BinaryPrimitives.WriteInt64LittleEndian(number, entry.Shape.Length);
                hash.Append(number);
                foreach (var value in entry.Shape.Append(entry.Offset - dataStart).Append(entry.Offset - dataStart + entry.ByteLength))
                {
                    BinaryPrimitives.WriteInt64LittleEndian(number, value);
                    hash.Append(number);
                }
            }
        }
        return hash;
    }

    public static string Format(Xxh3 hash) => Algorithm + hash.GetCurrentHashAsUInt64().ToString("x16", CultureInfo.InvariantCulture);

    public static bool IsWellFormed(string value)
    {
        var digits = value.StartsWith(Algorithm, System.StringComparison.Ordinal) ? value[Algorithm.Length..] : "";
        return digits.Length == 16 && digits.All(char.IsAsciiHexDigitLower);
    }
}
