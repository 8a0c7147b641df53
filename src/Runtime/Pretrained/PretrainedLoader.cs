using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Format;
using CheckpointGen.Loading;
using CheckpointGen.Parts;
using static TorchSharp.torch;

namespace CheckpointGen.Pretrained;

/// <summary>
/// Loads the weights of every <see cref="PretrainedAttribute"/> member that names a source, and of every
/// <see cref="ICheckpointable"/> submodule's. Every source is opened, indexed and checked (keys, shapes, dtypes, file
/// length) before any member changes: a missing, foreign or mismatched source changes nothing. The sources are then
/// read one after another, each staged whole before it is copied.
/// </summary>
internal static class PretrainedLoader
{
    /// <summary>What the obsolete <c>CheckpointPolicy.PretrainedBaseDirectory</c> sets: used when the options name no folder.</summary>
    internal static string? DefaultBaseDirectory { get; set; }

    /// <summary>One file's checked plan: its entries, keyed as the module names them, and the module state they go into.</summary>
    private sealed record FileLoad(nn.Module Module, WeightFile File, List<TensorEntry> Entries, Dictionary<TensorEntry, string> FileKeys, Dictionary<string, Tensor> State);

    public static void Load(CheckpointPolicy policy, PretrainedLoadOptions options)
    {
        var loads = new List<FileLoad>();
        try
        {
            Plan(policy, options.BaseDirectory ?? DefaultBaseDirectory, loads);
            var modules = loads.Select(l => l.Module).Distinct(ReferenceEqualityComparer.Instance).Cast<nn.Module>().ToList();
            // Nothing remembered of the old weights may keep their memory alive while the new ones come in.
            modules.ForEach(PretrainedContent.Forget);
            using (no_grad())
            {
                foreach (var load in loads)
                {
                    if (load.File.Loaded is { } tensors)
                    {
                        load.Entries.ForEach(entry => load.State[entry.Key].copy_(tensors[load.FileKeys[entry]]));
                    }
                    else
                    {
                        Copy(load);
                    }
                }
            }
            // Once per load, from the weights now in memory: saving never has to read them while they stay unchanged.
            modules.ForEach(PretrainedContent.RecordLoaded);
        }
        finally
        {
            loads.Select(l => l.File).Distinct().ToList().ForEach(file => file.Dispose());
        }
    }

    /// <summary>Opens and checks the sources of this model's members, then those of its <see cref="ICheckpointable"/> submodules.</summary>
    private static void Plan(CheckpointPolicy policy, string? baseDirectory, List<FileLoad> loads)
    {
        foreach (var field in policy.Fields.Where(f => f.Source is not null))
        {
            var module = field.Module ?? throw PretrainedParts.Unassigned(policy.ModelType, field);
            var source = baseDirectory is null ? field.Source! : Path.Combine(baseDirectory, field.Source!);
            var files = WeightSource.Open(source, path => OpenSource(path, $"pretrained weights file of {policy.ModelType}.{field.Name}", baseDirectory));
            // Adapters inside the part are trained, not loaded: a source never has them.
            var state = AdapterModules.FrozenState(module);
            var matcher = new StateMatcher(state);
            var inFile = new HashSet<string>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var load = new FileLoad(module, file, [], new Dictionary<TensorEntry, string>(ReferenceEqualityComparer.Instance), state);
                loads.Add(load);
                foreach (var entry in file.Index.Entries)
                {
                    var key = field.KeyPrefix is null ? entry.Key
                        : entry.Key.StartsWith(field.KeyPrefix, StringComparison.Ordinal) ? entry.Key[field.KeyPrefix.Length..]
                        : null;
                    if (key is not null && inFile.Add(key) && matcher.Match(entry, key))
                    {
                        var renamed = entry with { Key = key };
                        load.Entries.Add(renamed);
                        load.FileKeys[renamed] = entry.Key;
                    }
                }
            }
            matcher.AddMissing(inFile, _ => true);
            StateMatcher.ThrowIfAny(
                matcher.Problems,
                files.Count == 1 ? files[0].Index.Source : Path.GetFullPath(source),
                $"{policy.ModelType}.{field.Name}" + (field.KeyPrefix is null ? "" : $" (keys under '{field.KeyPrefix}')"),
                () => KeyPrefixHint(files.SelectMany(f => f.Index.Entries).Select(e => e.Key).ToHashSet(StringComparer.Ordinal), state.Keys, field.KeyPrefix));
        }
        foreach (var child in TopmostCheckpointableDescendants(policy.Model))
        {
            Plan(child.CheckpointPolicy, baseDirectory, loads);
        }
    }

    /// <summary>
    /// The <see cref="PretrainedAttribute.KeyPrefix"/> under which the file holds every key of the member (a whole-model
    /// file named as the source of one part), or the advice to drop a prefix the file does not use.
    /// </summary>
    private static string? KeyPrefixHint(HashSet<string> fileKeys, Dictionary<string, Tensor>.KeyCollection moduleKeys, string? current)
    {
        if (moduleKeys.Count == 0)
        {
            return null;
        }
        if (current is not null && moduleKeys.All(fileKeys.Contains))
        {
            return $"The file holds this part's keys without a prefix: remove KeyPrefix = \"{current}\" from the [Pretrained] attribute.";
        }
        var first = moduleKeys.First();
        var prefix = fileKeys
            .Where(k => k.Length > first.Length && k.EndsWith("." + first, StringComparison.Ordinal))
            .Select(k => k[..^first.Length])
            .FirstOrDefault(candidate => candidate != current && moduleKeys.All(key => fileKeys.Contains(candidate + key)));
        return prefix is null ? null : $"The file holds every key of this part under '{prefix}': set KeyPrefix = \"{prefix}\" on the [Pretrained] attribute.";
    }

    /// <summary>Reads a file's entries whole, then copies them: a read that fails leaves the module untouched.</summary>
    private static void Copy(FileLoad load)
    {
        var staged = TensorFiles.Read(load.File.Stream!, 0, load.File.Index, load.Entries);
        try
        {
            foreach (var (key, tensor) in staged)
            {
                CheckpointLoadPlan.Install(load.State[key], tensor);
            }
        }
        finally
        {
            foreach (var tensor in staged.Values)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>Opens a source; a missing one is reported with where relative sources are looked for.</summary>
    private static FileStream OpenSource(string path, string what, string? baseDirectory)
    {
        try
        {
            return CheckpointFiles.OpenExisting(path, what);
        }
        catch (FileNotFoundException e)
        {
            var where = baseDirectory is null
                ? $"Relative sources resolve against the current directory ('{Environment.CurrentDirectory}'); pass PretrainedLoadOptions {{ BaseDirectory = ... }} to LoadPretrained to look elsewhere."
                : $"Relative sources resolve against the base directory '{Path.GetFullPath(baseDirectory)}'.";
            throw new FileNotFoundException($"{e.Message} {where}", e.FileName, e);
        }
    }

    /// <summary>Each <see cref="ICheckpointable"/> submodule not inside another one (which loads it), once however often it is registered.</summary>
    private static IEnumerable<ICheckpointable> TopmostCheckpointableDescendants(nn.Module model)
    {
        var names = new List<string>();
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var (name, child) in model.named_modules().OrderBy(m => m.name.Length))
        {
            if (child is ICheckpointable checkpointable && !names.Any(outer => name.StartsWith(outer + ".", StringComparison.Ordinal)))
            {
                names.Add(name);
                if (seen.Add(child))
                {
                    yield return checkpointable;
                }
            }
        }
    }
}
