using CheckpointGen;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UserProject;

// Each line ending in "// expect: <severity> <id>" must get exactly that diagnostic from 'dotnet build'.

public class NotPartial : nn.Module<Tensor, Tensor> // expect: error CKPT001
{
    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
    public NotPartial() : base("n") { RegisterComponents(); }
    public override Tensor forward(Tensor x) => vae.forward(x);
}

public partial class NotAModule // expect: error CKPT002
{
    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
}

public partial class BadField : nn.Module<Tensor, Tensor>
{
    [Pretrained] private static readonly Linear shared = nn.Linear(4, 4); // expect: error CKPT003
    public BadField() : base("b") { RegisterComponents(); }
    public override Tensor forward(Tensor x) => shared.forward(x);
}

public partial class Derived : Captioner // expect: error CKPT004
{
    [Pretrained] private readonly Linear second = nn.Linear(4, 4);
}

public partial class NeverFrozen : nn.Module<Tensor, Tensor>
{
    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
    private readonly Linear head = nn.Linear(4, 2);

    public NeverFrozen() : base("f") // expect: warning CKPT010
    {
        RegisterComponents();
        foreach (var p in vae.parameters())
        {
            p.requires_grad = true; // expect: warning CKPT011
        }
    }

    public Adam Optimizer() => optim.Adam(vae.parameters()); // expect: error CKPT012

    public override Tensor forward(Tensor x) => head.forward(vae.forward(x));
}

public partial class FrozenLater : nn.Module<Tensor, Tensor>
{
    [Pretrained] private readonly Linear vae = nn.Linear(4, 4);
    private readonly System.Action freeze;

    public FrozenLater() : base("l") // expect: warning CKPT010
    {
        RegisterComponents();
        freeze = () => FreezePretrained(); // a lambda that may never run
    }

    public override Tensor forward(Tensor x) => vae.forward(x);
}

/// <summary>Holds a model with pretrained fields, and has none of its own.</summary>
public class Pipeline : nn.Module<Tensor, Tensor>
{
    private readonly Captioner captioner = new();
    public Pipeline() : base("p") { RegisterComponents(); }
    public override Tensor forward(Tensor x) => captioner.forward(x);
}

public static class Misuse
{
    public static void Checkpoints(Captioner model, Pipeline pipeline, string path)
    {
        model.load(path); // expect: warning CKPT020
        model.save(path); // expect: warning CKPT021
        nn.Module module = model;
        module.save(path); // expect: warning CKPT021
        pipeline.load(path); // expect: warning CKPT020
    }

    public static Adam Optimizer(Captioner model)
    {
        var encoder = model.Vae;
        return optim.Adam(encoder.parameters()); // expect: error CKPT012
    }

    public static void FineTune(Captioner model) => Unfreeze(model.Vae); // expect: warning CKPT011

    private static void Unfreeze(nn.Module module)
    {
        foreach (var p in module.parameters())
        {
            p.requires_grad = true;
        }
    }
}
