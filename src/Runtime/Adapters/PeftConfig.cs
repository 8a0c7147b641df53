using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using CheckpointGen.Format;

namespace CheckpointGen.Adapters;

/// <summary>
/// The parts of PEFT's <c>adapter_config.json</c> (a <c>LoraConfig</c>) that decide which layers have adapters and what
/// they compute, with PEFT's own rules for choosing layers by <c>target_modules</c>, <c>layers_to_transform</c> and
/// <c>layers_pattern</c>, and for per-layer ranks and alphas (<c>rank_pattern</c>, <c>alpha_pattern</c>).
/// </summary>
internal sealed record PeftConfig(
    int Rank,
    double Alpha,
    double Dropout,
    IReadOnlyList<string>? TargetList,
    string? TargetRegex,
    IReadOnlyList<int>? LayersToTransform,
    IReadOnlyList<string>? LayersPattern,
    IReadOnlyDictionary<string, int> RankPattern,
    IReadOnlyDictionary<string, double> AlphaPattern)
{
    public const string FileName = "adapter_config.json";

    /// <summary>More than any real config: bounds what an untrusted file can make us read.</summary>
    private const long MaxBytes = 16 << 20;

    private static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(1);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Whether PEFT puts an adapter on the layer at <paramref name="path"/> (relative to the model): <c>check_target_module_exists</c>.</summary>
    public bool Targets(string path)
    {
        if (TargetRegex is not null)
        {
            return FullMatch(TargetRegex, path);
        }
        var names = TargetList ?? [];
        if (names.Contains(path))
        {
            return true;
        }
        if (!names.Any(t => path.EndsWith("." + t, StringComparison.Ordinal)))
        {
            return false;
        }
        if (LayersToTransform is null || LayersToTransform.Count == 0)
        {
            return true;
        }
        var patterns = LayersPattern is null || LayersPattern.Count == 0 ? ["[^.]*"] : LayersPattern;
        foreach (var pattern in patterns)
        {
            var match = Regex.Match(path, $"^(?:.*\\.)?(?:{pattern})\\.(\\d+)\\.", RegexOptions.CultureInvariant, RegexTimeout);
            if (match.Success)
            {
                return int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var layer) && LayersToTransform.Contains(layer);
            }
        }
        return false;
    }

    /// <summary>The rank and alpha PEFT gives the adapter at <paramref name="path"/>: the first matching pattern key, else the defaults.</summary>
    public (int Rank, double Alpha) SettingsOf(string path)
    {
        var rankKey = RankPattern.Keys.FirstOrDefault(key => MatchesPatternKey(key, path));
        var alphaKey = AlphaPattern.Keys.FirstOrDefault(key => MatchesPatternKey(key, path));
        return (rankKey is null ? Rank : RankPattern[rankKey], alphaKey is null ? Alpha : AlphaPattern[alphaKey]);
    }

    /// <summary>PEFT's <c>get_pattern_key</c>: the key, a regex, matches the end of the path at a dot.</summary>
    private static bool MatchesPatternKey(string key, string path) => Regex.IsMatch(path, $"^(?:.*\\.)?(?:{key})\\z", RegexOptions.CultureInvariant, RegexTimeout);

    private static bool FullMatch(string pattern, string text) => Regex.IsMatch(text, $"^(?:{pattern})\\z", RegexOptions.CultureInvariant, RegexTimeout);

    /// <summary>
    /// The config that describes <paramref name="adapters"/> (model-relative paths with their settings) among the
    /// model's <paramref name="linearPaths"/>, as PEFT writes it: the most common rank and alpha, patterns for the rest,
    /// and <c>target_modules</c> as the layers' last names when those choose exactly these layers, else as their paths.
    /// </summary>
    /// <exception cref="InvalidOperationException">The adapters' dropouts differ: PEFT's config has one.</exception>
    public static PeftConfig Describe(IReadOnlyList<(string Path, int Rank, double Alpha, double Dropout)> adapters, IReadOnlyList<string> linearPaths)
    {
        var dropouts = adapters.Select(a => a.Dropout).Distinct().ToArray();
        if (dropouts.Length > 1)
        {
            throw new InvalidOperationException(
                $"The LoRA adapters have different dropouts ({string.Join(", ", dropouts.Select(d => d.ToString(CultureInfo.InvariantCulture)))}), " +
                "and PEFT's adapter_config.json holds one lora_dropout: inject them with the same dropout.");
        }
        var rank = adapters.GroupBy(a => a.Rank).OrderByDescending(g => g.Count()).First().Key;
        var alpha = adapters.GroupBy(a => a.Alpha).OrderByDescending(g => g.Count()).First().Key;
        var adapted = adapters.Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
        var config = new PeftConfig(
            rank, alpha, dropouts[0], null, null, null, null,
            adapters.Where(a => a.Rank != rank).ToDictionary(a => a.Path, a => a.Rank, StringComparer.Ordinal),
            adapters.Where(a => a.Alpha != alpha).ToDictionary(a => a.Path, a => a.Alpha, StringComparer.Ordinal));

        string[] names = [.. adapted.Select(p => p[(p.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal)];
        string[] paths = [.. adapted.Order(StringComparer.Ordinal)];
        var chosen = new[] { config with { TargetList = names }, config with { TargetList = paths } }
            .FirstOrDefault(c => linearPaths.Where(c.Targets).ToHashSet(StringComparer.Ordinal).SetEquals(adapted))
            ?? config with { TargetRegex = string.Join("|", paths.Select(Regex.Escape)) };
        var wrong = adapters.FirstOrDefault(a => chosen.SettingsOf(a.Path) != (a.Rank, a.Alpha));
        if (wrong.Path is not null)
        {
            throw new InvalidOperationException($"The rank and alpha of the LoRA adapter at '{wrong.Path}' cannot be told apart from other layers' in PEFT's rank_pattern and alpha_pattern.");
        }
        return chosen;
    }

    /// <summary>The JSON PEFT writes (<c>LoraConfig.save_pretrained</c>: sorted keys, two spaces), inference mode on as PEFT saves it.</summary>
    public string ToJson()
    {
        var values = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["alpha_pattern"] = AlphaPattern,
            ["base_model_name_or_path"] = null,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = LayersPattern,
            ["layers_to_transform"] = LayersToTransform,
            ["lora_alpha"] = Alpha,
            ["lora_dropout"] = Dropout,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = Rank,
            ["rank_pattern"] = RankPattern,
            ["revision"] = null,
            ["target_modules"] = TargetRegex is null ? TargetList : TargetRegex,
            ["task_type"] = null,
            ["use_dora"] = false,
            ["use_rslora"] = false,
        };
        return JsonSerializer.Serialize(values, Indented) + "\n";
    }

    /// <summary>Reads and checks a config, as strict as PEFT where it matters and refusing what CheckpointGen's LoRA does not compute.</summary>
    /// <exception cref="CheckpointFormatException">It is not a LoRA config, or a value is of the wrong kind or refused.</exception>
    public static PeftConfig Read(string path)
    {
        using var stream = CheckpointFiles.OpenExisting(path, "PEFT adapter config");
        if (stream.Length > MaxBytes)
        {
            throw new CheckpointFormatException(stream.Name, $"it is {stream.Length} bytes long; an adapter config is a small JSON file.");
        }
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(stream.Name, $"it is not valid JSON ({e.Message}).");
        }
        using (document)
        {
            return Parse(document.RootElement, new Reader(stream.Name));
        }
    }

    private static PeftConfig Parse(JsonElement root, Reader read)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw read.Error("it is not a JSON object.");
        }
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (!values.TryAdd(property.Name, property.Value))
            {
                throw read.Error($"{Fragment.Quote(property.Name)} appears twice.");
            }
        }
        JsonElement? Value(string name) => values.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        var type = read.String(Value("peft_type"), "peft_type");
        if (type != "LORA")
        {
            throw read.Error($"'peft_type' is {(type is null ? "missing" : Fragment.Quote(type))}: CheckpointGen reads LoRA adapters (\"LORA\") only.");
        }
        // PEFT's defaults where a key is absent.
        var rank = read.Integer(Value("r"), "r") ?? 8;
        var alpha = read.Number(Value("lora_alpha"), "lora_alpha") ?? 8;
        var dropout = read.Number(Value("lora_dropout"), "lora_dropout") ?? 0;
        if (rank < 1 || !(dropout >= 0 && dropout < 1))
        {
            throw read.Error(rank < 1 ? $"'r' is {rank}; a LoRA rank is at least 1." : $"'lora_dropout' is {dropout.ToString(CultureInfo.InvariantCulture)}; a dropout is in [0, 1).");
        }
        Refuse(read, Value("bias"), "bias", v => v.ValueKind == JsonValueKind.String && v.GetString() == "none", "trained biases (only \"none\" is supported)");
        Refuse(read, Value("fan_in_fan_out"), "fan_in_fan_out", v => v.ValueKind == JsonValueKind.False, "transposed (Conv1D) base weights");
        Refuse(read, Value("use_dora"), "use_dora", v => v.ValueKind == JsonValueKind.False, "DoRA");
        Refuse(read, Value("use_rslora"), "use_rslora", v => v.ValueKind == JsonValueKind.False, "rank-stabilised scaling (alpha / sqrt(r))");
        Refuse(read, Value("modules_to_save"), "modules_to_save", v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0, "whole modules saved beside the adapters");

        IReadOnlyList<string>? targetList = null;
        string? targetRegex = null;
        switch (Value("target_modules"))
        {
            case { ValueKind: JsonValueKind.String } single when single.GetString() == "all-linear":
                throw read.Error("'target_modules' is \"all-linear\", which PEFT resolves with the model's architecture: name the layers instead.");
            case { ValueKind: JsonValueKind.String } single:
                targetRegex = single.GetString()!;
                read.Regex(targetRegex, "target_modules");
                break;
            case { ValueKind: JsonValueKind.Array } list:
                targetList = read.Strings(list, "target_modules");
                break;
            case null:
                throw read.Error("it names no 'target_modules' (PEFT then picks layers by the model's architecture): list the adapted layers' names in it.");
            default:
                throw read.Error("'target_modules' is neither a list of names nor a regular expression.");
        }

        IReadOnlyList<int>? layers = Value("layers_to_transform") switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } one => [read.Integer(one, "layers_to_transform")!.Value],
            { ValueKind: JsonValueKind.Array } many => many.EnumerateArray().Select(v => read.Integer(v, "layers_to_transform")!.Value).ToArray(),
            _ => throw read.Error("'layers_to_transform' is neither a layer index nor a list of them."),
        };
        IReadOnlyList<string>? layersPattern = Value("layers_pattern") switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } one => [one.GetString()!],
            { ValueKind: JsonValueKind.Array } many => read.Strings(many, "layers_pattern"),
            _ => throw read.Error("'layers_pattern' is neither a pattern nor a list of them."),
        };
        foreach (var pattern in layersPattern ?? [])
        {
            read.Regex(pattern, "layers_pattern");
        }
        var rankPattern = read.Patterns(Value("rank_pattern"), "rank_pattern", (v, name) => read.Integer(v, name)!.Value);
        var alphaPattern = read.Patterns(Value("alpha_pattern"), "alpha_pattern", (v, name) => read.Number(v, name)!.Value);
        if (rankPattern.Values.Any(r => r < 1))
        {
            throw read.Error("'rank_pattern' gives a rank below 1.");
        }
        return new PeftConfig(rank, alpha, dropout, targetList, targetRegex, layers, layersPattern, rankPattern, alphaPattern);
    }

    private static void Refuse(Reader read, JsonElement? value, string name, Func<JsonElement, bool> supported, string what)
    {
        if (value is { } present && !supported(present))
        {
            throw read.Error($"{Fragment.Quote(name)} is {Fragment.Quote(present.GetRawText())}: the adapter uses {what}, which CheckpointGen's LoRA does not compute.");
        }
    }

    /// <summary>Typed reads of config values; every refusal names the file and the key.</summary>
    private sealed class Reader(string source)
    {
        public CheckpointFormatException Error(string problem) => new(source, problem);

        public string? String(JsonElement? value, string name) => value switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } text => text.GetString(),
            _ => throw Error($"'{name}' is not a string."),
        };

        public int? Integer(JsonElement? value, string name) => value switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } number when number.TryGetInt32(out var integer) => integer,
            _ => throw Error($"'{name}' is not an integer."),
        };

        public double? Number(JsonElement? value, string name) => value switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } number when number.TryGetDouble(out var real) && double.IsFinite(real) => real,
            _ => throw Error($"'{name}' is not a number."),
        };

        public string[] Strings(JsonElement list, string name)
            => list.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error($"'{name}' holds something other than strings.")).ToArray();

        public void Regex(string pattern, string name)
        {
            try
            {
                _ = new Regex(pattern, RegexOptions.CultureInvariant, RegexTimeout);
            }
            catch (ArgumentException e)
            {
                throw Error($"'{name}' {Fragment.Quote(pattern)} is not a regular expression ({e.Message}).");
            }
        }

        public Dictionary<string, T> Patterns<T>(JsonElement? value, string name, Func<JsonElement, string, T> read)
        {
            if (value is null)
            {
                return new Dictionary<string, T>(StringComparer.Ordinal);
            }
            if (value.Value.ValueKind != JsonValueKind.Object)
            {
                throw Error($"'{name}' is not an object.");
            }
            var patterns = new Dictionary<string, T>(StringComparer.Ordinal);
            foreach (var property in value.Value.EnumerateObject())
            {
                Regex(property.Name, name);
                if (!patterns.TryAdd(property.Name, read(property.Value, name)))
                {
                    throw Error($"'{name}' has {Fragment.Quote(property.Name)} twice.");
                }
            }
            return patterns;
        }
    }
}
