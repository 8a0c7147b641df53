using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Format;
using static TorchSharp.torch;

namespace CheckpointGen.Loading;

/// <summary>Compares the tensors a file holds with the ones a module has, and collects every disagreement.</summary>
internal sealed class StateMatcher(IReadOnlyDictionary<string, Tensor> state)
{
    public List<CheckpointProblem> Problems { get; } = [];

    /// <summary>Checks one file entry against the tensor the module has under <paramref name="key"/>; records what disagrees.</summary>
    public bool Match(TensorEntry entry, string key)
    {
        if (!state.TryGetValue(key, out var target))
        {
            Problems.Add(new CheckpointProblem(CheckpointProblemKind.UnexpectedKey, entry.Key, null, entry.Describe()));
            return false;
        }
        var shape = target.shape;
        if (target.dtype != entry.Dtype)
        {
            Problems.Add(new CheckpointProblem(CheckpointProblemKind.DtypeMismatch, entry.Key, TensorEntry.DescribeTensor(target.dtype, shape), entry.Describe()));
            return false;
        }
        if (!entry.HasShape(shape))
        {
            Problems.Add(new CheckpointProblem(CheckpointProblemKind.ShapeMismatch, entry.Key, TensorEntry.DescribeTensor(target.dtype, shape), entry.Describe()));
            return false;
        }
        return true;
    }

    /// <summary>Records every key of the module that <paramref name="isExpected"/> wants but the file lacks.</summary>
    public void AddMissing(IReadOnlySet<string> inFile, Func<string, bool> isExpected)
    {
        foreach (var (key, tensor) in state)
        {
            if (isExpected(key) && !inFile.Contains(key))
            {
                Problems.Add(new CheckpointProblem(CheckpointProblemKind.MissingKey, key, TensorEntry.DescribeTensor(tensor.dtype, tensor.shape), null));
            }
        }
    }

    /// <summary>Throws one exception naming every problem, in a stable order; does nothing when there is none.</summary>
    public static void ThrowIfAny(IReadOnlyCollection<CheckpointProblem> problems, string source, string target, Func<string?>? hint = null)
    {
        if (problems.Count > 0)
        {
            throw new CheckpointMismatchException(source, target, problems.OrderBy(p => p.Kind).ThenBy(p => p.Key, StringComparer.Ordinal).ToArray(), hint?.Invoke());
        }
    }
}
