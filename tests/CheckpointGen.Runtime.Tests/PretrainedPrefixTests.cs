using System.IO;
using System;
using System.Linq;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Prefixes come from the names TorchSharp registered, found by reference, never from field names.</summary>
public sealed class PretrainedPrefixTests
{
    [Fact]
    public void Field_name_is_the_prefix_when_RegisterComponents_names_it()
    {
        using var model = new Captioner();

        Assert.Equal(["vae."], model.PretrainedPrefixes);
    }

    [Fact]
    public void ComponentName_renames_the_prefix()
    {
        using var model = new RenamedEncoder();

        Assert.Equal(["backbone."], model.PretrainedPrefixes);
        Assert.Equal(["head.bias", "head.weight"], model.TrainableStateDict().Keys.Order());
    }

    [Fact]
    public void Register_module_name_is_the_prefix()
    {
        using var model = new ManuallyRegistered();

        Assert.Equal(["frozen_trunk."], model.PretrainedPrefixes);
        Assert.Equal(["classifier.bias", "classifier.weight"], model.TrainableStateDict().Keys.Order());
    }

    [Fact]
    public void Checkpointable_child_contributes_its_own_pretrained_parts()
    {
        using var model = new Pipeline();

        Assert.Equal(["decoder.text_encoder.", "vae."], model.PretrainedPrefixes);
        Assert.Equal(["decoder.output.bias", "decoder.output.weight"], model.TrainableStateDict().Keys.Order());
        Assert.All(model.Decoder.TextEncoder.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void Every_name_a_pretrained_module_is_registered_under_is_excluded()
    {
        using var model = new SharedTrunk();

        Assert.Equal(["adapter.inner.", "vae."], model.PretrainedPrefixes);
        Assert.Equal(["adapter.projection.bias", "adapter.projection.weight"], model.TrainableStateDict().Keys.Order());
        var frozen = model.Vae.parameters().Select(p => p.Handle).ToHashSet();
        Assert.DoesNotContain(model.TrainableParameters(), p => frozen.Contains(p.Handle));
    }

    [Fact]
    public void A_tensor_shared_between_a_pretrained_and_a_trainable_module_is_refused()
    {
        using var model = new TiedHead();

        var error = Assert.Throws<InvalidOperationException>(model.FreezePretrained);

        Assert.Contains("'head.weight' shares its memory with the pretrained 'embed.weight'", error.Message);
    }

    [Fact]
    public void A_head_tied_to_a_frozen_embedding_is_refused_whatever_wrapper_TorchSharp_hands_out()
    {
        using var model = new TiedLanguageModel();
        using var folder = new TempFolder();

        var error = Assert.Throws<InvalidOperationException>(() => model.SaveCheckpoint(folder.File("lm.safetensors")));

        Assert.Contains("'lmHead.weight' shares its memory with the pretrained 'embedding.weight'", error.Message);
        Assert.Empty(Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void Unregistered_pretrained_field_is_a_clear_error()
    {
        using var model = new Unregistered();

        var error = Assert.Throws<InvalidOperationException>(() => model.PretrainedPrefixes);

        Assert.Contains("Unregistered.encoder", error.Message);
        Assert.Contains("RegisterComponents()", error.Message);
    }
}
