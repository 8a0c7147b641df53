using System;
using System.Linq;
using CheckpointGen.Reliability;
using CheckpointGen.Runtime.Tests.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

/// <summary><c>Lora.Inject</c> and <c>Lora.Merge</c>: PEFT's names, initialisation and arithmetic.</summary>
public sealed class LoraTests
{
    private static bool Projection(string path) => path.EndsWith("q_proj", StringComparison.Ordinal) || path.EndsWith("v_proj", StringComparison.Ordinal);

    private static Linear Layer(nn.Module root, string path) => (Linear)root.named_modules().Single(m => m.name == path).module;

    private static void Randomize(Tensor weight)
    {
        using var noGrad = no_grad();
        using var values = randn_like(weight);
        weight.copy_(values);
    }

    [Fact]
    public void Inject_adds_adapters_under_PEFT_names_beside_unchanged_base_keys_and_changes_no_output()
    {
        manual_seed(1);
        using var backbone = new Backbone(16, 32, 2);
        var baseKeys = backbone.state_dict().Keys.ToList();
        using var input = randn(2, 5, 16);
        using var before = backbone.call(input);

        var paths = Lora.Inject(backbone, Projection, rank: 4, alpha: 8);

        Assert.Equal(["layers.0.attn.q_proj", "layers.0.attn.v_proj", "layers.1.attn.q_proj", "layers.1.attn.v_proj"], paths);
        Assert.Equal(paths, Lora.AdaptedPaths(backbone));
        var state = backbone.state_dict();
        Assert.Equal(
            baseKeys.Concat(paths.SelectMany(p => new[] { $"{p}.lora_A.weight", $"{p}.lora_B.weight" })).Order(StringComparer.Ordinal),
            state.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([4L, 16L], state["layers.0.attn.q_proj.lora_A.weight"].shape);
        Assert.Equal([16L, 4L], state["layers.0.attn.q_proj.lora_B.weight"].shape);
        using (var nonZero = state["layers.0.attn.q_proj.lora_B.weight"].count_nonzero())
        {
            Assert.Equal(0, nonZero.item<long>());
        }
        using var after = backbone.call(input);
        Assert.True(Tensors.BitIdentical(before, after));
    }

    [Fact]
    public void A_is_Kaiming_uniform_with_a_sqrt5_as_PEFT_initialises_it()
    {
        manual_seed(2);
        using var layer = nn.Linear(400, 300);

        Lora.Inject(layer, path => path == "", rank: 64, alpha: 64);

        // Kaiming-uniform with a = sqrt(5) draws from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        using var a = layer.state_dict()["lora_A.weight"];
        var bound = 1 / Math.Sqrt(400);
        var largest = Tensors.MaxAbs(a);
        Assert.True(largest <= bound);
        Assert.True(largest > 0.99 * bound);
        using var deviation = a.std();
        Assert.InRange(deviation.item<float>(), 0.95 * bound / Math.Sqrt(3), 1.05 * bound / Math.Sqrt(3));
    }

    [Fact]
    public void The_adapted_layer_computes_W_x_plus_b_plus_alpha_over_r_B_A_x()
    {
        manual_seed(3);
        using var layer = nn.Linear(8, 6);
        Lora.Inject(layer, _ => true, rank: 2, alpha: 5);
        var a = layer.state_dict()["lora_A.weight"];
        var b = layer.state_dict()["lora_B.weight"];
        Randomize(b);
        using var x = randn(3, 8);

        using var actual = layer.call(x);

        using var expected = nn.functional.linear(x, layer.weight, layer.bias) + (5.0 / 2) * x.matmul(a.t()).matmul(b.t());
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6));
        using var plain = layer.forward(x);
        Assert.False(plain.allclose(expected, rtol: 1e-5, atol: 1e-6), "forward(x) runs no hooks: only call(x) adds the adapter's term");
    }

    [Fact]
    public void Dropout_drops_the_adapter_input_in_training_mode_only()
    {
        manual_seed(4);
        using var layer = nn.Linear(64, 64);
        Lora.Inject(layer, _ => true, rank: 8, alpha: 8, dropout: 0.5);
        Randomize(layer.state_dict()["lora_B.weight"]);
        using var x = randn(16, 64);
        layer.eval();
        using var first = layer.call(x);
        using var second = layer.call(x);

        layer.train();
        using var dropped = layer.call(x);

        Assert.True(Tensors.BitIdentical(first, second));
        Assert.False(dropped.allclose(first, rtol: 1e-3, atol: 1e-3));
    }

    [Fact]
    public void Inject_refuses_a_target_that_matches_no_layer_and_names_the_layers()
    {
        using var backbone = new Backbone(16, 32, 1);
        using var before = new ModelSnapshot(backbone);

        var error = Assert.Throws<ArgumentException>(() => Lora.Inject(backbone, path => path.EndsWith("query", StringComparison.Ordinal), rank: 4, alpha: 8));

        Assert.Contains("No Linear layer under CheckpointGen.Runtime.Tests.Models.Backbone matches the target", error.Message);
        Assert.Contains("'layers.0.attn.q_proj'", error.Message);
        before.AssertUnchanged(backbone);
    }

    [Fact]
    public void Inject_refuses_layers_that_have_an_adapter_and_adds_none()
    {
        using var backbone = new Backbone(16, 32, 1);
        Lora.Inject(backbone, path => path.EndsWith("q_proj", StringComparison.Ordinal), rank: 4, alpha: 8);
        using var before = new ModelSnapshot(backbone);

        var error = Assert.Throws<InvalidOperationException>(() => Lora.Inject(backbone, Projection, rank: 4, alpha: 8));

        Assert.Contains("'layers.0.attn.q_proj' already has a LoRA adapter", error.Message);
        before.AssertUnchanged(backbone);
        Assert.Equal(["layers.0.attn.q_proj"], Lora.AdaptedPaths(backbone));
    }

    [Theory]
    [InlineData(0, 8, 0, "rank")]
    [InlineData(4, double.NaN, 0, "alpha")]
    [InlineData(4, 8, 1, "dropout")]
    [InlineData(4, 8, -0.1, "dropout")]
    public void Inject_refuses_settings_out_of_range(int rank, double alpha, double dropout, string parameter)
    {
        using var layer = nn.Linear(4, 4);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Lora.Inject(layer, _ => true, rank, alpha, dropout));

        Assert.Equal(parameter, error.ParamName);
        Assert.Empty(Lora.AdaptedPaths(layer));
    }

    [Fact]
    public void The_adapters_matrices_are_never_targets_themselves()
    {
        using var backbone = new Backbone(16, 32, 1);
        Lora.Inject(backbone, path => path.EndsWith("q_proj", StringComparison.Ordinal), rank: 4, alpha: 8);

        var paths = Lora.Inject(backbone, path => path.Contains("q_proj.lora", StringComparison.Ordinal) || path.EndsWith("k_proj", StringComparison.Ordinal), rank: 4, alpha: 8);

        Assert.Equal(["layers.0.attn.k_proj"], paths);
    }

    [Fact]
    public void Merge_folds_every_adapter_into_its_weight_and_leaves_plain_layers_with_the_same_outputs()
    {
        manual_seed(5);
        using var backbone = new Backbone(16, 32, 2);
        var baseKeys = backbone.state_dict().Keys.Order(StringComparer.Ordinal).ToList();
        var paths = Lora.Inject(backbone, Projection, rank: 4, alpha: 16);
        foreach (var (key, tensor) in backbone.state_dict().Where(e => e.Key.EndsWith("lora_B.weight", StringComparison.Ordinal)))
        {
            Randomize(tensor);
        }
        using var input = randn(2, 5, 16);
        using var adapted = backbone.call(input);
        var layer = Layer(backbone, "layers.0.attn.q_proj");
        using var expectedWeight = layer.weight + 4.0 * backbone.state_dict()["layers.0.attn.q_proj.lora_B.weight"].matmul(backbone.state_dict()["layers.0.attn.q_proj.lora_A.weight"]);

        var merged = Lora.Merge(backbone);

        Assert.Equal(paths, merged);
        Assert.Empty(Lora.AdaptedPaths(backbone));
        Assert.Equal(baseKeys, backbone.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.True(layer.weight.allclose(expectedWeight, rtol: 1e-6, atol: 1e-7));
        using var after = backbone.call(input);
        Assert.True(after.allclose(adapted, rtol: 1e-5, atol: 1e-5), $"max difference {Tensors.MaxAbsDifference(after, adapted)}");
        using var plain = layer.forward(input);
        using var called = layer.call(input);
        Assert.True(Tensors.BitIdentical(plain, called));
        Assert.Equal(paths, Lora.Inject(backbone, Projection, rank: 2, alpha: 2));
    }
}
