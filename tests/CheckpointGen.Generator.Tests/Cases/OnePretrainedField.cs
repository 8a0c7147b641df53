using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Samples;

public sealed partial class Captioner : nn.Module<Tensor, Tensor>
{
    [Pretrained("weights/vae.safetensors")]
    private readonly Sequential vae;

    private readonly Linear head;

    public Captioner() : base(nameof(Captioner))
    {
        vae = nn.Sequential(nn.Linear(8, 4), nn.ReLU());
        head = nn.Linear(4, 2);
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
}
