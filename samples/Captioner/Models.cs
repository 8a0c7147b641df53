using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CheckpointGen.Samples;

/// <summary>The "pretrained" part: about 10 million parameters (42 MB) with a BatchNorm.</summary>
public sealed class ImageEncoder : nn.Module<Tensor, Tensor>
{
    public const long Inputs = 1024;
    public const long Features = 2048;

    private readonly Linear stem = nn.Linear(Inputs, Features);
    private readonly BatchNorm1d norm = nn.BatchNorm1d(Features);
    private readonly Linear block1 = nn.Linear(Features, Features);
    private readonly Linear block2 = nn.Linear(Features, Features);

    public ImageEncoder() : base(nameof(ImageEncoder))
    {
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h1 = nn.functional.relu(norm.forward(stem.forward(x)));
        using var h2 = nn.functional.relu(block1.forward(h1));
        return block2.forward(h2);
    }
}

/// <summary>A classifier around the frozen encoder: only the head trains, so only the head is checkpointed.</summary>
public sealed partial class Captioner : nn.Module<Tensor, Tensor>
{
    public const string EncoderWeights = "weights/image-encoder.dat";
    public const long Classes = 10;

    [Pretrained(EncoderWeights)]
    private readonly ImageEncoder encoder;

    private readonly Sequential head;

    public Captioner() : base(nameof(Captioner))
    {
        encoder = new ImageEncoder();
        head = nn.Sequential(nn.Linear(ImageEncoder.Features, 512), nn.ReLU(), nn.Linear(512, Classes));
        RegisterComponents();
        FreezePretrained();
    }

    public ImageEncoder Encoder => encoder;

    public override Tensor forward(Tensor x)
    {
        using var features = encoder.forward(x);
        return head.forward(features);
    }
}
