using CheckpointGen;
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
    }
}
