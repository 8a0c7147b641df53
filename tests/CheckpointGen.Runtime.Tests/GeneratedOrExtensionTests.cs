using System;
using System.IO;
using System.Linq;
using System.Reflection;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// <c>FreezePretrained()</c>, <c>TrainableParameters()</c> and <c>LoadPretrained()</c> are generated into a model type only
/// where its code calls them without <c>this.</c>; elsewhere the extension methods (and, through the interface, its
/// default implementations) serve. Called from outside the type, on the type, on <see cref="ICheckpointable"/> or on a
/// constrained type parameter, each does the same in both cases.
/// </summary>
public sealed class GeneratedOrExtensionTests
{
    private static readonly string[] Methods = ["FreezePretrained", "TrainableParameters", "LoadPretrained"];

    [Fact]
    public void Only_the_methods_called_unqualified_are_generated()
    {
        Assert.All(Methods, m => Assert.Null(GeneratedMethod(typeof(QualifiedCaptioner), m)));
        Assert.All(Methods, m => Assert.NotNull(GeneratedMethod(typeof(UnqualifiedCaptioner), m)));
        Assert.All(Methods, m => Assert.Null(GeneratedMethod(typeof(QualifiedBackbone), m)));
        Assert.NotNull(GeneratedMethod(typeof(UnqualifiedBackbone), "FreezePretrained"));
        Assert.NotNull(GeneratedMethod(typeof(UnqualifiedBackbone), "TrainableParameters"));
        Assert.Null(GeneratedMethod(typeof(UnqualifiedBackbone), "LoadPretrained"));
        // This project is C# 14: PretrainedPrefixes is the runtime's extension property, never a member of the type.
        Assert.Null(typeof(QualifiedCaptioner).GetProperty(nameof(ICheckpointable.PretrainedPrefixes)));
        Assert.Null(typeof(UnqualifiedCaptioner).GetProperty(nameof(ICheckpointable.PretrainedPrefixes)));
    }

    [Fact]
    public void Without_a_generated_member_the_extension_methods_and_the_interface_freeze_list_and_load()
    {
        using var model = new QualifiedCaptioner();
        AssertFrozen(model.Vae, model.Head);

        Unfreeze(model.Vae);
        model.FreezePretrained();
        AssertFrozen(model.Vae, model.Head);
        Unfreeze(model.Vae);
        ((ICheckpointable)model).FreezePretrained();
        AssertFrozen(model.Vae, model.Head);
        Unfreeze(model.Vae);
        Freeze(model);
        AssertFrozen(model.Vae, model.Head);

        AssertHeadOnly(model.Head, model.TrainableParameters());
        AssertHeadOnly(model.Head, ((ICheckpointable)model).TrainableParameters());
        AssertHeadOnly(model.Head, model.Trainable());
        Assert.Equal(["vae."], model.PretrainedPrefixes);
        Assert.Equal(["vae."], ((ICheckpointable)model).PretrainedPrefixes);

        AssertLoads(QualifiedCaptioner.Source, model.Vae, model.LoadPretrained, seed: 1);
        AssertLoads(QualifiedCaptioner.Source, model.Vae, ((ICheckpointable)model).LoadPretrained, seed: 2);
        AssertLoads(QualifiedCaptioner.Source, model.Vae, model.Load, seed: 3);
    }

    [Fact]
    public void With_a_generated_member_the_same_calls_reach_it()
    {
        using var model = new UnqualifiedCaptioner();
        AssertFrozen(model.Vae, model.Head);

        Unfreeze(model.Vae);
        model.FreezePretrained();
        AssertFrozen(model.Vae, model.Head);
        Unfreeze(model.Vae);
        ((ICheckpointable)model).FreezePretrained();
        AssertFrozen(model.Vae, model.Head);
        Unfreeze(model.Vae);
        Freeze(model);
        AssertFrozen(model.Vae, model.Head);

        AssertHeadOnly(model.Head, model.TrainableParameters());
        AssertHeadOnly(model.Head, ((ICheckpointable)model).TrainableParameters());
        AssertHeadOnly(model.Head, model.Trainable());

        AssertLoads(UnqualifiedCaptioner.Source, model.Vae, model.LoadPretrained, seed: 4);
        AssertLoads(UnqualifiedCaptioner.Source, model.Vae, ((ICheckpointable)model).LoadPretrained, seed: 5);
        AssertLoads(UnqualifiedCaptioner.Source, model.Vae, model.Load, seed: 6);
    }

    [Fact]
    public void A_type_deriving_from_the_model_freezes_with_this_FreezePretrained_or_unqualified()
    {
        using var qualified = new QualifiedFineTuned();
        using var unqualified = new UnqualifiedFineTuned();

        AssertFrozen(qualified.Vae, qualified.Head);
        AssertFrozen(unqualified.Vae, unqualified.Head);
        AssertHeadOnly(qualified.Head, qualified.Trainable());
        AssertHeadOnly(unqualified.Head, unqualified.Trainable());
        AssertHeadOnly(qualified.Head, qualified.TrainableParameters());
        AssertHeadOnly(unqualified.Head, unqualified.TrainableParameters());

        // The generated train override of the model keeps the pretrained part in eval mode in both.
        qualified.train();
        unqualified.train();
        Assert.False(qualified.Vae.training);
        Assert.False(unqualified.Vae.training);
        Assert.True(qualified.Head.training);
    }

    [Fact]
    public void The_extension_methods_refuse_a_null_model()
    {
        QualifiedCaptioner? model = null;

        Assert.Throws<ArgumentNullException>(() => model!.FreezePretrained());
        Assert.Throws<ArgumentNullException>(() => model!.TrainableParameters());
        Assert.Throws<ArgumentNullException>(() => model!.LoadPretrained());
    }

    /// <summary>A model type's own public parameterless method of that name (interface defaults are not the type's).</summary>
    private static MethodInfo? GeneratedMethod(Type type, string name)
        => type.GetMethod(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly, Type.EmptyTypes);

    /// <summary>On a type parameter constrained to the interface, the interface's member: the generated one or the default.</summary>
    private static void Freeze<T>(T model) where T : nn.Module, ICheckpointable => model.FreezePretrained();

    private static void Unfreeze(nn.Module part)
    {
        foreach (var parameter in part.parameters())
        {
            parameter.requires_grad = true;
        }
        part.train();
    }

    private static void AssertFrozen(nn.Module part, nn.Module head)
    {
        Assert.All(part.parameters(), p => Assert.False(p.requires_grad));
        Assert.False(part.training);
        Assert.All(head.parameters(), p => Assert.True(p.requires_grad));
    }

    private static void AssertHeadOnly(nn.Module head, System.Collections.Generic.IEnumerable<TorchSharp.Modules.Parameter> trainable)
        => Assert.Equal(head.parameters().Select(p => p.Handle), trainable.Select(p => p.Handle));

    /// <summary>The load reads the source (weights made from <paramref name="seed"/>) into the pretrained part and freezes it.</summary>
    private static void AssertLoads(string source, Encoder part, Action load, int seed)
    {
        manual_seed(seed);
        using var pretrained = new Encoder();
        WeightFiles.WriteSafetensors(source, pretrained);
        try
        {
            Unfreeze(part);

            load();

            var expected = pretrained.state_dict();
            var actual = part.state_dict();
            Assert.All(expected, e => Assert.True(Tensors.BitIdentical(e.Value, actual[e.Key]), e.Key));
            Assert.All(part.parameters(), p => Assert.False(p.requires_grad));
            Assert.False(part.training);
        }
        finally
        {
            File.Delete(source);
        }
    }
}
