using System;
using System.IO.Hashing;
using System.Threading.Tasks;
using CheckpointGen.Format;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CheckpointGen.Runtime.Tests;

public sealed class PipelinedHashTests
{
    [Fact]
    public void Pieces_hashed_behind_the_caller_give_the_hash_of_the_whole_in_order()
    {
        var data = RandomBytes((5 << 20) + 12345, seed: 3);
        using var memory = TensorOf(data);
        var pipelined = new Xxh3();
        var hashing = new PipelinedHash(pipelined);
        var offset = 0;
        foreach (var length in new[] { 1 << 20, 7, (1 << 20) + 1, 3 << 20 })
        {
            hashing.Append(memory.bytes.Slice(offset, length));
            offset += length;
        }
        // A reused buffer between pieces of tensor memory, as a skipped entry is read.
        hashing.AppendNow(data.AsSpan(offset, 100).ToArray());
        hashing.Append(memory.bytes[(offset + 100)..]);
        hashing.Complete();

        Assert.Equal(XxHash3.Hash(data), pipelined.GetCurrentHash());
    }

    [Fact]
    public void Drain_returns_only_once_every_piece_is_hashed()
    {
        // Pieces large enough that hashing them takes milliseconds after the last Append returns.
        var data = RandomBytes(64 << 20, seed: 11);
        using var memory = TensorOf(data);
        var pipelined = new Xxh3();
        var hashing = new PipelinedHash(pipelined);
        for (var offset = 0; offset < data.Length; offset += 16 << 20)
        {
            hashing.Append(memory.bytes.Slice(offset, 16 << 20));
        }

        hashing.Drain();

        Assert.Equal(XxHash3.Hash(data), pipelined.GetCurrentHash());
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Native memory, which stays in place while pieces of it are hashed.</summary>
    private static Tensor TensorOf(byte[] data)
    {
        var tensor = empty(data.Length, ScalarType.Byte);
        data.CopyTo(tensor.bytes);
        return tensor;
    }
}
