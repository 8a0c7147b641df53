using System;
using System.IO.Hashing;
using System.Linq;
using CheckpointGen.Format;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>
/// The runtime's XXH3 against System.IO.Hashing's, which wrote every checksum and fingerprint before it, with each kind
/// of vector instructions this processor has (a machine without AVX-512 or AVX2 hashes with the narrower ones).
/// </summary>
public sealed class Xxh3Tests
{
    private static readonly byte[] Data = RandomBytes(1 << 20, seed: 11);

    public static TheoryData<string> Supported()
    {
        var kinds = new TheoryData<string>();
        foreach (var kind in Enum.GetValues<Xxh3.Vectors>().Where(kind => kind <= Xxh3.Widest))
        {
            kinds.Add(kind.ToString());
        }
        return kinds;
    }

    [Fact]
    public void The_widest_instructions_are_those_of_a_hash_made_without_naming_them()
    {
        var expected = Expected(Data);
        Assert.Equal(expected, Ours(Data, Xxh3.Widest.ToString()));
        var hash = new Xxh3();
        hash.Append(Data);
        Assert.Equal(expected, hash.GetCurrentHashAsUInt64());
    }

    [Theory]
    [MemberData(nameof(Supported))]
    public void Every_length_up_to_two_blocks_and_a_half_hashes_as_the_package_does(string vectors)
    {
        // 0-3, 4-8, 9-16, 17-128, 129-240 bytes are hashed whole, each range its own way; longer inputs by stripes and blocks.
        for (var length = 0; length <= 2600; length++)
        {
            Assert.Equal(Expected(Data.AsSpan(0, length)), Ours(Data.AsSpan(0, length), vectors));
        }
    }

    [Theory]
    [MemberData(nameof(Supported))]
    public void Appending_in_pieces_of_any_size_gives_the_hash_of_the_whole(string vectors)
    {
        foreach (var length in new[] { 241, 255, 256, 257, 320, 1023, 1024, 1025, 1088, 2047, 2048, 2049, 4096 + 7 })
        {
            var expected = Expected(Data.AsSpan(0, length));
            for (var split = 0; split <= length; split++)
            {
                var hash = Hash(vectors);
                hash.Append(Data.AsSpan(0, split));
                hash.Append(Data.AsSpan(split, length - split));
                Assert.Equal(expected, hash.GetCurrentHashAsUInt64());
            }
        }
        var random = new Random(5);
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var length = random.Next(Data.Length + 1);
            var hash = Hash(vectors);
            for (var at = 0; at < length;)
            {
                // Pieces from empty to many blocks, the sizes a load and a save hand over, and the odd ones between.
                var piece = Math.Min(length - at, random.Next(4) switch { 0 => random.Next(70), 1 => random.Next(2000), 2 => 256 << 10, _ => random.Next(300_000) });
                hash.Append(Data.AsSpan(at, piece));
                at += piece;
            }
            Assert.Equal(Expected(Data.AsSpan(0, length)), hash.GetCurrentHashAsUInt64());
        }
    }

    [Fact]
    public void Reading_the_hash_leaves_it_to_go_on_and_reset_starts_over()
    {
        var hash = new Xxh3();
        var package = new XxHash3();
        foreach (var piece in new[] { 7, 300, 1500, 64, 0, 9000 })
        {
            hash.Append(Data.AsSpan(0, piece));
            package.Append(Data.AsSpan(0, piece));
            Assert.Equal(package.GetCurrentHash(), hash.GetCurrentHash());
        }
        hash.Reset();
        hash.Append(Data.AsSpan(0, 5000));
        Assert.Equal(Expected(Data.AsSpan(0, 5000)), hash.GetCurrentHashAsUInt64());
    }

    private static Xxh3 Hash(string vectors) => new(Enum.Parse<Xxh3.Vectors>(vectors));

    private static ulong Ours(ReadOnlySpan<byte> data, string vectors)
    {
        var hash = Hash(vectors);
        hash.Append(data);
        return hash.GetCurrentHashAsUInt64();
    }

    private static ulong Expected(ReadOnlySpan<byte> data) => XxHash3.HashToUInt64(data);

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
