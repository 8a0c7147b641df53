using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UserProject;

/// <summary>The patterns the README teaches: nothing here may be flagged.</summary>
public static class Clean
{
    public static void Train(string path)
    {
        using var model = new Captioner();
        model.LoadPretrained();
        using var optimizer = optim.Adam(model.TrainableParameters(), lr: 0.001);
        model.SaveCheckpoint(path);
        model.LoadCheckpoint(path, new CheckpointLoadOptions { SkipPretrainedKeys = true });
        model.load(path, strict: false);

        using var plain = nn.Linear(4, 4);
        plain.save(path);
        plain.load(path);

        // A local reassigned before use, clones of frozen parameters, a save that skips the pretrained keys.
        var parameters = model.Vae.parameters();
        parameters = model.TrainableParameters();
        using var second = optim.SGD(parameters, 0.01);
        foreach (var p in model.Vae.parameters())
        {
            var probe = p.detach().clone();
            probe.requires_grad = true;
        }
        model.save(path, skip: ["vae.weight", "vae.bias"]);
    }
}

/// <summary>Frozen when constructed, in a method the constructor calls.</summary>
public partial class Prepared : nn.Module<Tensor, Tensor>
{
    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
    public Prepared() : base("p") { RegisterComponents(); Prepare(); }
    private void Prepare() => FreezePretrained();
    public override Tensor forward(Tensor x) => vae.forward(x);
}

/// <summary>Frozen when constructed, by the only factory that can construct it.</summary>
public partial class Built : nn.Module<Tensor, Tensor>
{
    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
    private Built() : base("b") { RegisterComponents(); }
    public override Tensor forward(Tensor x) => vae.forward(x);

    public static Built Create()
    {
        var model = new Built();
        model.FreezePretrained();
        return model;
    }
}
