using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Models;

/// <summary>A stand-in for a pretrained encoder: linear layers around a BatchNorm, whose running statistics must not drift.</summary>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
    private readonly Linear input;
    private readonly BatchNorm1d norm;
    private readonly Linear output;

    public Encoder(long inputs = 16, long hidden = 32, long outputs = 8) : base(nameof(Encoder))
    {
        input = nn.Linear(inputs, hidden);
        norm = nn.BatchNorm1d(hidden);
        output = nn.Linear(hidden, outputs);
        RegisterComponents();
    }

    public BatchNorm1d Norm => norm;

    public override Tensor forward(Tensor x)
    {
        using var hidden = input.forward(x);
        using var normalized = norm.forward(hidden);
        using var activated = nn.functional.relu(normalized);
        return output.forward(activated);
    }
}
