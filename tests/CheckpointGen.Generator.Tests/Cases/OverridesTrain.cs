using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

public partial class SelfManaged : nn.Module<Tensor, Tensor>
{
    [Pretrained("weights/encoder.safetensors")]
    private readonly BatchNorm1d encoder;

    private readonly Linear head;

    public SelfManaged() : base(nameof(SelfManaged))
    {
        encoder = nn.BatchNorm1d(4);
        head = nn.Linear(4, 2);
        RegisterComponents();
        FreezePretrained();
    }

    public override void train(bool train = true)
    {
        base.train(train);
        encoder.eval();
    }

    public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
}
