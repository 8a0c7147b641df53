using CheckpointGen.Reliability;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests.Models;

/// <summary>The model of the README: a frozen pretrained encoder and a small trainable head.</summary>
public sealed partial class Captioner : nn.Module<Tensor, Tensor>
{
    public const string Source = "test-weights/captioner-vae.safetensors";

    [Pretrained(Source)]
    private readonly Encoder vae;

    private readonly Linear head;

    public Captioner(long hidden = 32) : base(nameof(Captioner))
    {
        vae = StandInWeights.Create(() => new Encoder(hidden: hidden));
        head = nn.Linear(8, 4);
        RegisterComponents();
        FreezePretrained();
    }

    public Encoder Vae => vae;

    public Linear Head => head;

    public override Tensor forward(Tensor x)
    {
        using var features = vae.forward(x);
        return head.forward(features);
    }
}
