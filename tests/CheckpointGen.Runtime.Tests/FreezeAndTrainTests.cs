using System.Linq;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

public sealed class FreezeAndTrainTests
{
    [Fact]
    public void FreezePretrained_turns_off_gradients_and_training_mode_of_pretrained_parts_only()
    {
        using var model = new Captioner();

        Assert.All(model.Vae.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(model.Head.parameters(), p => Assert.True(p.requires_grad));
        Assert.False(model.Vae.training);
        Assert.False(model.Vae.Norm.training);
    }

    [Fact]
    public void TrainableParameters_are_the_parameters_outside_pretrained_parts()
    {
        using var model = new Captioner();

        var trainable = model.TrainableParameters().ToList();

        Assert.Equal(model.Head.parameters().Select(p => p.Handle), trainable.Select(p => p.Handle));
    }

    [Fact]
    public void TrainableStateDict_leaves_out_pretrained_keys_buffers_included()
    {
        using var model = new Captioner();

        Assert.Equal(["head.bias", "head.weight"], model.TrainableStateDict().Keys.Order());
        Assert.Contains("vae.norm.running_mean", model.state_dict().Keys);
    }

    [Fact]
    public void Train_keeps_pretrained_parts_in_eval_mode_and_their_running_statistics_unchanged()
    {
        manual_seed(1);
        using var model = new Captioner();
        using var runningMean = model.Vae.Norm.running_mean!.clone();
        using var runningVar = model.Vae.Norm.running_var!.clone();

        model.train();
        Assert.True(model.training);
        Assert.True(model.Head.training);
        Assert.False(model.Vae.training);
        Assert.False(model.Vae.Norm.training);

        Tensors.Train(model, model.TrainableParameters(), steps: 5);

        Assert.True(Tensors.BitIdentical(runningMean, model.Vae.Norm.running_mean!));
        Assert.True(Tensors.BitIdentical(runningVar, model.Vae.Norm.running_var!));
    }

    [Fact]
    public void Without_the_generated_override_a_batchnorm_would_drift()
    {
        // The same steps on a bare encoder in training mode do move its statistics: the test above can fail.
        manual_seed(1);
        using var encoder = new Encoder();
        using var before = encoder.Norm.running_mean!.clone();
        encoder.train();
        using (no_grad())
        {
            using var output = encoder.forward(randn(32, 16));
        }

        Assert.False(Tensors.BitIdentical(before, encoder.Norm.running_mean!));
    }
}
