using CheckpointGen;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Samples;

public partial class Renamed : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "backbone")]
    [Pretrained("weights/backbone.dat")]
    private readonly Linear encoder;

    private readonly Linear @base;

    public Renamed() : base(nameof(Renamed))
    {
        encoder = nn.Linear(8, 4);
        @base = nn.Linear(4, 2);
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => @base.forward(encoder.forward(x));
}
