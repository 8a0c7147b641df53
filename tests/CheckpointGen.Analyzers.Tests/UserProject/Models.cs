using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UserProject;

public partial class Captioner : nn.Module<Tensor, Tensor>
{
    [Pretrained("weights/vae.safetensors")]
    private readonly Linear vae;

    private readonly Linear head;

    public Captioner() : base(nameof(Captioner))
    {
        vae = nn.Linear(8, 4);
        head = nn.Linear(4, 2);
        RegisterComponents();
        FreezePretrained();
    }

    public Linear Vae => vae;

    public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
}
