using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Samples.Vision;

public partial class DualEncoder : nn.Module<Tensor, Tensor>
{
    [Pretrained("weights/clip.safetensors", KeyPrefix = "vision_model.")]
    private readonly Linear image;

    [Pretrained]
    private readonly Linear text;

    private readonly Linear head;

    public DualEncoder() : base(nameof(DualEncoder))
    {
        image = nn.Linear(8, 4);
        text = nn.Linear(8, 4);
        head = nn.Linear(8, 2);
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => head.forward(cat([image.forward(x), text.forward(x)], 1));
}
