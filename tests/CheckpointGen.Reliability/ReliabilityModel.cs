using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>A model with a frozen part and a trainable part holding several dtypes: Float32 weights and Int64 counters.</summary>
public sealed partial class ReliabilityModel : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly Sequential encoder;

    private readonly Linear head;
    private readonly BatchNorm1d norm;

    public ReliabilityModel(long features = 8) : base(nameof(ReliabilityModel))
    {
        encoder = StandInWeights.Create(() => nn.Sequential(nn.Linear(8, features), nn.BatchNorm1d(features)));
        head = nn.Linear(features, features);
        norm = nn.BatchNorm1d(features);
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => norm.forward(head.forward(encoder.forward(x)));

    /// <summary>Sets every trainable tensor to <paramref name="version"/>, so a file shows which save it came from.</summary>
    public void Fill(long version)
    {
        using var noGrad = no_grad();
        foreach (var tensor in this.TrainableStateDict().Values)
        {
            tensor.fill_(version);
        }
    }

    /// <summary>The single value every trainable tensor holds, or null when they disagree.</summary>
    public long? Version()
    {
        var values = this.TrainableStateDict().Values.SelectMany(ModelSnapshot.ValuesOf).Distinct().ToArray();
        return values.Length == 1 ? (long)values[0] : null;
    }
}
