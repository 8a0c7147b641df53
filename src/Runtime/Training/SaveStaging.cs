using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Format;
using CheckpointGen.Saving;
using static TorchSharp.torch;

namespace CheckpointGen.Training;

/// <summary>
/// CPU memory an asynchronous save copies the tensors into, so that the training loop can change its own right away.
/// The buffers are kept for the next save (one save at a time uses them): a steady-state copy then costs a memory copy,
/// with no allocation and no page faults. They belong to no dispose scope of the caller's.
/// </summary>
internal sealed class SaveStaging : IDisposable
{
    private readonly Dictionary<string, Tensor> buffers = new(StringComparer.Ordinal);

    /// <summary>The same checkpoint with every tensor replaced by a copy in this staging memory.</summary>
    public PreparedCheckpoint Copy(PreparedCheckpoint prepared)
    {
        var copies = new List<KeyValuePair<string, Tensor>>(prepared.Tensors.Count);
        using (no_grad())
        {
            foreach (var (key, tensor) in prepared.Tensors)
            {
                if (!buffers.TryGetValue(key, out var buffer) || buffer.dtype != tensor.dtype || !buffer.shape.SequenceEqual(tensor.shape))
                {
                    buffer?.Dispose();
                    buffer = empty(tensor.shape, tensor.dtype, CPU).DetachFromDisposeScope();
                    StagingMemory.Prepare(buffer);
                    buffers[key] = buffer;
                }
                buffer.copy_(tensor);
                copies.Add(KeyValuePair.Create(key, buffer));
            }
        }
        foreach (var unused in buffers.Keys.Except(copies.Select(c => c.Key)).ToList())
        {
            buffers.Remove(unused, out var buffer);
            buffer!.Dispose();
        }
        return prepared with { Tensors = copies };
    }

    public void Dispose()
    {
        foreach (var buffer in buffers.Values)
        {
            buffer.Dispose();
        }
        buffers.Clear();
    }
}
