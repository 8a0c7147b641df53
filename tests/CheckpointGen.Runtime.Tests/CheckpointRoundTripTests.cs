using System.Collections.Generic;
using System.IO;
using System.Linq;
using CheckpointGen.Runtime.Tests.Models;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

public sealed class CheckpointRoundTripTests
{
    /// <summary>A trained model, its pretrained source written and loaded as a user would.</summary>
    private static Captioner TrainedCaptioner(int seed)
    {
        manual_seed(seed);
        var model = new Captioner();
        WeightFiles.WriteSafetensors(Captioner.Source, model.Vae);
        model.LoadPretrained();
        Tensors.Train(model, model.TrainableParameters(), steps: 3);
        return model;
    }

    [Fact]
    public void Saved_and_reloaded_model_gives_bit_identical_outputs()
    {
        using var folder = new TempFolder();
        var path = folder.File("ckpt/step-3.safetensors");
        using var original = TrainedCaptioner(seed: 7);
        original.SaveCheckpoint(path);

        manual_seed(99);
        using var restored = new Captioner();
        restored.LoadPretrained();
        var report = restored.LoadCheckpoint(path);

        using var x = randn(5, 16);
        using var expected = original.forward(x);
        using var actual = restored.forward(x);
        Assert.True(Tensors.BitIdentical(expected, actual));
        Assert.Equal(["head.bias", "head.weight"], report.LoadedKeys.Order());
        Assert.Equal(["vae."], report.FingerprintsChecked);
        Assert.Empty(report.SkippedPretrainedKeys);
        Assert.Equal("CheckpointGen.Runtime.Tests.Models.Captioner", report.SavedModelType);
        Assert.Equal((4 * 8 + 4) * sizeof(float), report.BytesLoaded);
    }

    [Fact]
    public void An_optimizer_built_before_the_load_trains_the_loaded_weights()
    {
        using var folder = new TempFolder();
        var path = folder.File("ckpt.safetensors");
        using var original = TrainedCaptioner(seed: 8);
        original.SaveCheckpoint(path);
        using var restored = new Captioner();
        using var optimizer = optim.SGD(restored.TrainableParameters(), 0.5);

        restored.LoadCheckpoint(path);
        using var loaded = restored.Head.weight!.clone();
        using (var loss = restored.forward(randn(4, 16)).pow(2).sum())
        {
            loss.backward();
        }
        optimizer.step();

        Assert.True(Tensors.BitIdentical(original.Head.weight!, loaded));
        Assert.False(Tensors.BitIdentical(loaded, restored.Head.weight!));
        Assert.True(Tensors.BitIdentical(restored.Head.weight!, restored.TrainableStateDict()["head.weight"]));
    }

    [Fact]
    public void Tensors_larger_than_a_span_go_through_in_chunks()
    {
        // Spans stop at 2 GiB; the chunked path that serves larger tensors, taken here with 60-byte chunks.
        using var folder = new TempFolder();
        var path = folder.File("chunked.safetensors");
        using var original = TrainedCaptioner(seed: 9);
        var chunkBytes = Format.TensorBytes.ChunkBytes;
        Format.TensorBytes.ChunkBytes = 60;
        try
        {
            original.SaveCheckpoint(path);
            using var restored = new Captioner();
            restored.LoadCheckpoint(path);

            Assert.True(Tensors.BitIdentical(original.Head.weight!, restored.Head.weight!));
            Assert.True(Tensors.BitIdentical(original.Head.bias!, restored.Head.bias!));
        }
        finally
        {
            Format.TensorBytes.ChunkBytes = chunkBytes;
        }
        using var unchunked = new Captioner();
        unchunked.LoadCheckpoint(path);
        Assert.True(Tensors.BitIdentical(original.Head.weight!, unchunked.Head.weight!));
    }

    [Fact]
    public void Checkpoint_holds_the_trainable_tensors_and_the_metadata_only()
    {
        using var folder = new TempFolder();
        var path = folder.File("model.safetensors");
        using var model = TrainedCaptioner(seed: 3);

        model.SaveCheckpoint(path);

        Assert.Equal(["head.bias", "head.weight"], WeightFiles.Keys(path));
        var metadata = WeightFiles.Metadata(path);
        Assert.Equal("pt", metadata["format"]);
        Assert.Equal("CheckpointGen.Runtime.Tests.Models.Captioner", metadata["checkpointgen.model"]);
        Assert.Equal("[\"vae.\"]", metadata["checkpointgen.excluded"]);
        Assert.StartsWith("structure-sha256:", metadata["checkpointgen.fingerprint.vae."]);
        Assert.False(string.IsNullOrEmpty(metadata["checkpointgen.version"]));
        var trainableBytes = (4 * 8 + 4) * sizeof(float);
        Assert.InRange(new FileInfo(path).Length, trainableBytes, trainableBytes + 1024);
    }

    [Fact]
    public void Checkpointable_child_pretrained_part_stays_out_of_the_parent_checkpoint()
    {
        using var folder = new TempFolder();
        var path = folder.File("pipeline.safetensors");
        using var model = new Pipeline();

        model.SaveCheckpoint(path);

        Assert.Equal(["decoder.output.bias", "decoder.output.weight"], WeightFiles.Keys(path));
        Assert.Equal("[\"decoder.text_encoder.\",\"vae.\"]", WeightFiles.Metadata(path)["checkpointgen.excluded"]);
        using var restored = new Pipeline();
        Assert.Equal(["decoder.text_encoder.", "vae."], restored.LoadCheckpoint(path).FingerprintsChecked);
    }

    [Fact]
    public void Two_checkpoints_in_one_stream_load_one_after_the_other()
    {
        using var stream = new MemoryStream();
        using var first = new Captioner();
        using var second = new Captioner();
        first.SaveCheckpoint(stream);
        second.SaveCheckpoint(stream);

        stream.Position = 0;
        using var restored = new Captioner();
        restored.LoadCheckpoint(stream);
        Assert.True(Tensors.BitIdentical(first.TrainableStateDict()["head.weight"], restored.TrainableStateDict()["head.weight"]));
        restored.LoadCheckpoint(new ForwardOnlyStream(stream));
        Assert.True(Tensors.BitIdentical(second.TrainableStateDict()["head.weight"], restored.TrainableStateDict()["head.weight"]));
        Assert.Equal(stream.Length, stream.Position);
    }

    [Fact]
    public void A_generic_model_records_its_closed_type()
    {
        using var folder = new TempFolder();
        var path = folder.File("generic.safetensors");
        using var model = new Wrapper<Encoder>(new Encoder());

        model.SaveCheckpoint(path);

        var recorded = WeightFiles.Metadata(path)["checkpointgen.model"];
        Assert.Equal("CheckpointGen.Runtime.Tests.Models.Wrapper<CheckpointGen.Runtime.Tests.Models.Encoder>", recorded);
        Assert.Equal(recorded, model.LoadCheckpoint(path).SavedModelType);
    }

    [Fact]
    public void Stream_round_trip_works_and_a_forward_only_stream_skips_pretrained_keys()
    {
        using var model = TrainedCaptioner(seed: 5);
        using var full = new MemoryStream();
        // A full checkpoint: pretrained keys sit in the file and must be read past.
        var all = model.state_dict();
        Format.Safetensors.Write(full, all.OrderBy(e => e.Key, System.StringComparer.Ordinal).ToList(), new Dictionary<string, string>());

        manual_seed(11);
        using var restored = new Captioner();
        full.Position = 0;
        var report = restored.LoadCheckpoint(new ForwardOnlyStream(full));

        Assert.Equal(all.Keys.Where(k => k.StartsWith("vae.")).Order(), report.SkippedPretrainedKeys.Order());
        Assert.True(Tensors.BitIdentical(model.Head.weight!, restored.Head.weight!));

        using var saved = new MemoryStream();
        model.SaveCheckpoint(saved);
        saved.Position = 0;
        using var again = new Captioner();
        again.LoadCheckpoint(saved);
        Assert.True(Tensors.BitIdentical(model.Head.bias!, again.Head.bias!));
    }

    [Fact]
    public void Overwriting_a_checkpoint_replaces_it_and_leaves_no_temporary_file()
    {
        using var folder = new TempFolder();
        var path = folder.File("latest.safetensors");
        using var model = TrainedCaptioner(seed: 1);
        model.SaveCheckpoint(path);
        using var first = model.Head.weight!.clone();

        Tensors.Train(model, model.TrainableParameters(), steps: 2);
        model.SaveCheckpoint(path);

        Assert.Equal([path], Directory.GetFiles(folder.Path));
        using var restored = new Captioner();
        restored.LoadCheckpoint(path);
        Assert.True(Tensors.BitIdentical(model.Head.weight!, restored.Head.weight!));
        Assert.False(Tensors.BitIdentical(first, restored.Head.weight!));
    }

    [Fact]
    public void A_save_that_fails_leaves_no_temporary_file_and_the_target_untouched()
    {
        using var folder = new TempFolder();
        var target = folder.File("occupied");
        Directory.CreateDirectory(target);
        using var model = new Captioner();

        Assert.ThrowsAny<IOException>(() => model.SaveCheckpoint(target));

        Assert.Equal([target], Directory.GetFileSystemEntries(folder.Path));
        Assert.True(Directory.Exists(target));
    }

    /// <summary>A stream that can only be read forward, as a network or pipe stream.</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new System.NotSupportedException();
        public override long Position { get => throw new System.NotSupportedException(); set => throw new System.NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, System.Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new System.NotSupportedException();
        public override void SetLength(long value) => throw new System.NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new System.NotSupportedException();
    }
}
