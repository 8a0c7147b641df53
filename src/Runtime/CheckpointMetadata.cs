using System.Collections.Generic;
using CheckpointGen.Format;
using ChecksumText = CheckpointGen.Format.Checksum;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace CheckpointGen;

/// <summary>The <c>__metadata__</c> entries CheckpointGen writes into every checkpoint.</summary>
public static class CheckpointMetadata
{
    /// <summary>Always <c>pt</c>, as Python's safetensors expects for PyTorch tensors.</summary>
    public const string Format = "format";

    /// <summary>The CheckpointGen version that wrote the file.</summary>
    public const string Version = "checkpointgen.version";

    /// <summary>
    /// The layout of CheckpointGen's entries: <c>2</c> (this version) checksums the tensor table with the data; a file
    /// without it is of layout 1, whose checksum covers the data only.
    /// </summary>
    public const string FormatVersion = "checkpointgen.format-version";

    /// <summary>The model type that saved the file.</summary>
    public const string Model = "checkpointgen.model";

    /// <summary>A JSON array of the pretrained prefixes left out of the file.</summary>
    public const string Excluded = "checkpointgen.excluded";

    /// <summary>Followed by a pretrained prefix: the structural fingerprint of that part (keys, dtypes, shapes).</summary>
    public const string FingerprintPrefix = "checkpointgen.fingerprint.";

    /// <summary>
    /// Followed by a pretrained prefix: the content fingerprint of that part's weights (keys, dtypes, shapes and bytes)
    /// as they were at save, however they got into the model.
    /// </summary>
    public const string ContentPrefix = "checkpointgen.content.";

    /// <summary>The checksum of the data section: <c>xxh3-64:</c> and 16 hex digits.</summary>
    public const string Checksum = "checkpointgen.checksum";

    internal const string CurrentFormatVersion = "2";

    /// <summary>
    /// The training step a <see cref="CheckpointManager"/> saved the file at, as decimal digits; only the manager writes it,
    /// and it is how the manager knows its own files.
    /// </summary>
    public const string Step = "checkpointgen.step";

    /// <summary>The metrics a <see cref="CheckpointManager"/> saved the file with: a JSON object of names and numbers.</summary>
    public const string Metrics = "checkpointgen.metrics";

    internal static string WriterVersion { get; } =
        typeof(CheckpointMetadata).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    internal static string EncodeExcluded(IEnumerable<string> prefixes) => JsonSerializer.Serialize(prefixes.ToArray());

    /// <summary>
    /// A hash of the keys, dtypes, shapes and bytes of a part's tensors (keys relative to the part), in key order:
    /// the same for the same weights whichever file format they came from.
    /// </summary>
    internal static string ContentFingerprint(IEnumerable<KeyValuePair<string, Tensor>> cpuTensors)
    {
        var hash = new Xxh3();
        foreach (var (key, tensor) in cpuTensors.OrderBy(e => e.Key, System.StringComparer.Ordinal))
        {
            hash.Append(Encoding.UTF8.GetBytes($"{key}:{tensor.dtype}:{string.Join(',', tensor.shape)}\n"));
            TensorBytes.Hash(hash, tensor);
        }
        return "content-" + ChecksumText.Format(hash);
    }

    /// <summary>
    /// A hash of the keys (relative to the part), dtypes and shapes of a part's tensors: equal for the same
    /// architecture, different when the pretrained part was replaced or reshaped.
    /// </summary>
    internal static string StructuralFingerprint(IEnumerable<KeyValuePair<string, Tensor>> partState)
    {
        var text = new StringBuilder();
        foreach (var (key, tensor) in partState.OrderBy(e => e.Key, System.StringComparer.Ordinal))
        {
            text.Append(key).Append(':').Append(tensor.dtype).Append(':').AppendJoin(',', tensor.shape).Append('\n');
        }
        return "structure-sha256:" + System.Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))).ToLowerInvariant();
    }

    /// <summary>
    /// A file that CheckpointGen wrote always carries its checksum and a fingerprint per excluded part; one without
    /// them has a damaged header, and the checks they enable must not silently fall away.
    /// </summary>
    internal static void RequireCheckpointGenEntries(TensorFileIndex index)
    {
        if (!index.Metadata.ContainsKey(Version))
        {
            return;
        }
        string[]? excluded = null;
        try
        {
            excluded = index.Metadata.TryGetValue(Excluded, out var json) ? System.Text.Json.JsonSerializer.Deserialize<string[]>(json) : null;
        }
        catch (System.Text.Json.JsonException)
        {
        }
        var missing = new[] { Checksum }
            .Concat((excluded ?? []).Select(prefix => FingerprintPrefix + prefix))
            .Where(key => !index.Metadata.ContainsKey(key))
            .ToArray();
        if (excluded is null || excluded.Any(prefix => prefix is null) || missing.Length > 0)
        {
            var problem = excluded is null || excluded.Any(prefix => prefix is null) ? $"'{Excluded}' is missing or not a JSON array of strings" : $"it lacks {string.Join(", ", missing.Select(k => $"'{k}'"))}";
            throw new CheckpointFormatException(index.Source, $"its metadata says CheckpointGen wrote it, but {problem}: the header is damaged.");
        }
    }

    /// <summary>The layout of the file's CheckpointGen entries: 1 when it does not say (an older file, or another writer's).</summary>
    internal static int LayoutVersion(TensorFileIndex index)
    {
        if (!index.Metadata.TryGetValue(FormatVersion, out var text))
        {
            return 1;
        }
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version) && version is >= 1 and <= 2
            ? version
            : throw new CheckpointFormatException(index.Source, $"'{FormatVersion}' is '{text}'; this CheckpointGen reads layouts 1 and 2. A newer CheckpointGen wrote it: update the package to read it.");
    }

    /// <summary>A hash ready for the file's data: it has taken in the tensor table where the file's layout says the checksum covers it.</summary>
    internal static Xxh3 StartChecksum(TensorFileIndex index)
        => ChecksumText.Start(index.Entries, index.DataStart, coversTable: LayoutVersion(index) >= 2);

    internal static string? RecordedChecksum(TensorFileIndex index)
    {
        if (!index.Metadata.TryGetValue(Checksum, out var checksum))
        {
            return null;
        }
        return ChecksumText.IsWellFormed(checksum)
            ? checksum
            : throw new CheckpointFormatException(index.Source, $"'{Checksum}' is '{checksum}', not {ChecksumText.Algorithm} and 16 lowercase hex digits.");
    }
}
