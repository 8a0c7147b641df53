using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Samples;

public partial class Adapter<TEncoder> : nn.Module<Tensor, Tensor>
    where TEncoder : nn.Module<Tensor, Tensor>
{
    [Pretrained]
    private readonly TEncoder encoder;

    private readonly Linear head;

    public Adapter(TEncoder encoder, long features) : base(nameof(Adapter<TEncoder>))
    {
        this.encoder = encoder;
        head = nn.Linear(features, 2);
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}
