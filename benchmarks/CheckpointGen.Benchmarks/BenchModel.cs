using System.Collections.Generic;
using System.Linq;
using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Benchmarks;

/// <summary>A frozen stack of square layers and one trainable layer of the same size: frozen:trainable is layers:1.</summary>
public sealed partial class BenchModel : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Sequential frozen;

    private readonly Linear head;

    public BenchModel(int frozenLayers, long width) : base(nameof(BenchModel))
    {
        FrozenLayers = frozenLayers;
        frozen = nn.Sequential(Enumerable.Range(0, frozenLayers).Select(i => ($"layer{i}", (nn.Module<Tensor, Tensor>)nn.Linear(width, width))).ToArray());
        head = nn.Linear(width, width);
        RegisterComponents();
        FreezePretrained();
    }

    public int FrozenLayers { get; }

    public override Tensor forward(Tensor x) => head.forward(frozen.forward(x));

    /// <summary>The keys TorchSharp's and PyBridge's <c>skip</c> lists need to leave the frozen part out.</summary>
    public IList<string> PretrainedKeys() => state_dict().Keys.Where(k => k.StartsWith("frozen.", System.StringComparison.Ordinal)).ToList();

    public long TrainableBytes() => this.TrainableStateDict().Values.Sum(t => t.numel() * t.element_size());
}
