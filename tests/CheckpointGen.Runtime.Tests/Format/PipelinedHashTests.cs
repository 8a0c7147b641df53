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
        var pipelined = new XxHash3();
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
    public async Task The_caller_moves_on_while_the_hashing_core_finishes_its_first_work()
    {
        var data = RandomBytes(3 << 20, seed: 5);
        using var memory = TensorOf(data);
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pipelined = new XxHash3();
        var hashing = new PipelinedHash(pipelined, first.Task);

        var appending = Task.Run(() =>
        {
            for (var offset = 0; offset < data.Length; offset += 1 << 20)
            {
                hashing.Append(memory.bytes.Slice(offset, 1 << 20));
            }
        });
        Assert.True(await Finishes(appending, TimeSpan.FromSeconds(30)), "Append waited for the work before the first piece.");
        Assert.Equal(XxHash3.Hash([]), pipelined.GetCurrentHash());

        first.SetResult();
        hashing.Complete();
        Assert.Equal(XxHash3.Hash(data), pipelined.GetCurrentHash());
    }

    [Fact]
    public void A_failure_of_the_first_work_reaches_Complete()
    {
        using var memory = TensorOf(RandomBytes(1 << 10, seed: 9));
        var hashing = new PipelinedHash(new XxHash3(), Task.FromException(new InvalidOperationException("the fingerprints failed")));
        hashing.Append(memory.bytes);

        var error = Assert.Throws<InvalidOperationException>(hashing.Complete);
        Assert.Equal("the fingerprints failed", error.Message);
    }

    [Fact]
    public async Task Drain_returns_only_once_no_piece_is_read_any_more_whatever_failed()
    {
        using var memory = TensorOf(RandomBytes(2 << 20, seed: 11));
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hashing = new PipelinedHash(new XxHash3(), first.Task);
        hashing.Append(memory.bytes[..(1 << 20)]);
        hashing.Append(memory.bytes[(1 << 20)..]);

        var draining = Task.Run(hashing.Drain);
        Assert.False(await Finishes(draining, TimeSpan.FromMilliseconds(200)), "Drain returned while pieces were still to be hashed.");
        first.SetException(new InvalidOperationException("the fingerprints failed"));
        Assert.True(await Finishes(draining, TimeSpan.FromSeconds(30)));
        await draining;
    }

    private static async Task<bool> Finishes(Task task, TimeSpan within) => await Task.WhenAny(task, Task.Delay(within)) == task;

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
