using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>The state tensors of a TorchSharp optimizer (Adam's moments, SGD's momentum buffers), to set and to inspect.</summary>
public static class OptimizerStates
{
    public static List<Tensor> Tensors(optim.Optimizer optimizer)
        => ((OptimizerHelper)optimizer).state_dict().State
            .SelectMany(s => s.GetType().GetFields().Where(f => f.FieldType == typeof(Tensor)).Select(f => f.GetValue(s) as Tensor))
            .OfType<Tensor>()
            .ToList();

    public static void Fill(optim.Optimizer optimizer, double value)
    {
        foreach (var tensor in Tensors(optimizer))
        {
            tensor.fill_(value);
        }
    }
}
