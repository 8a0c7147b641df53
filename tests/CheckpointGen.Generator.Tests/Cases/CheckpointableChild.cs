using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Samples;

public partial class Decoder : nn.Module<Tensor, Tensor>
{
    [Pretrained("weights/text.safetensors")]
    private readonly Linear text_encoder;

    private readonly Linear output;

    public Decoder() : base(nameof(Decoder))
    {
        text_encoder = nn.Linear(8, 8);
        output = nn.Linear(8, 8);
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => output.forward(text_encoder.forward(x));
}

public partial class Pipeline : nn.Module<Tensor, Tensor>
{
    [Pretrained("weights/vae.safetensors")]
    private readonly Linear vae;

    private readonly Decoder decoder;

    public Pipeline() : base(nameof(Pipeline))
    {
        vae = nn.Linear(8, 8);
        decoder = new Decoder();
        RegisterComponents();
        FreezePretrained();
    }

    public override Tensor forward(Tensor x) => decoder.forward(vae.forward(x));
}
