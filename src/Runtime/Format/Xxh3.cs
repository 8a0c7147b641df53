using System;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CheckpointGen.Format;

/// <summary>
/// XXH3-64 with seed 0, appended to in pieces: bit for bit the <see cref="XxHash3"/> of System.IO.Hashing, which the
/// checkpoints' checksums and fingerprints have always been.
/// </summary>
/// <remarks>
/// CheckpointGen's own because of when it runs fast: an application runs with tiered compilation, and the package's
/// code ran unoptimized through an application's first loads and saves (16 MB hashed in 27-30 ms against 2.6 ms once
/// recompiled), which the runtime put off while the application kept compiling code of its own. The loop over the
/// data here is compiled at full optimization from its first call.
/// </remarks>
internal sealed unsafe class Xxh3 : NonCryptographicHashAlgorithm
{
    private const int StripeLength = 64;
    private const int SecretLength = 192;
    private const int StripesPerBlock = (SecretLength - StripeLength) / 8;
    private const int BufferLength = 4 * StripeLength;
    private const int MidSizeMax = 240;

    private const ulong Prime32_1 = 0x9E3779B1;
    private const ulong Prime32_2 = 0x85EBCA77;
    private const ulong Prime32_3 = 0xC2B2AE3D;
    private const ulong Prime64_1 = 0x9E3779B185EBCA87;
    private const ulong Prime64_2 = 0xC2B2AE3D27D4EB4F;
    private const ulong Prime64_3 = 0x165667B19E3779F9;
    private const ulong Prime64_4 = 0x85EBCA77C2B2AE63;
    private const ulong Prime64_5 = 0x27D4EB2F165667C5;
    private const ulong PrimeMx1 = 0x165667919E3779F9;
    private const ulong PrimeMx2 = 0x9FB21C651E98DF25;

    /// <summary>XXH3's default secret.</summary>
    private static ReadOnlySpan<byte> Secret =>
    [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];

    private readonly ulong[] accumulators = new ulong[8];
    // The input not yet taken into the accumulators: 1 to 256 bytes once more than 256 came (the last stripe is
    // hashed differently, so it waits here), and the stripe taken last at the buffer's end, for a short remainder.
    private readonly byte[] buffer = new byte[BufferLength];
    private int buffered;
    private long length;
    private int stripesInBlock;

    private readonly Vectors vectors;

    public Xxh3() : this(Widest)
    {
    }

    /// <summary>A hash that takes its stripes with <paramref name="vectors"/>, which the processor must have: every kind gives the same hash.</summary>
    internal Xxh3(Vectors vectors) : base(sizeof(ulong))
    {
        this.vectors = vectors;
        Reset();
    }

    /// <summary>The instructions stripes are taken with: one stripe per AVX-512 register, two per AVX2 pair, four SSE2 registers, or none.</summary>
    internal enum Vectors
    {
        None,
        Sse2,
        Avx2,
        Avx512,
    }

    /// <summary>The widest <see cref="Vectors"/> this processor has.</summary>
    internal static Vectors Widest
        => Avx512F.IsSupported ? Vectors.Avx512 : Avx2.IsSupported ? Vectors.Avx2 : Sse2.IsSupported ? Vectors.Sse2 : Vectors.None;

    public override void Reset()
    {
        ReadOnlySpan<ulong> initial = [Prime32_3, Prime64_1, Prime64_2, Prime64_3, Prime64_4, Prime32_2, Prime64_5, Prime32_1];
        initial.CopyTo(accumulators);
        buffered = 0;
        length = 0;
        stripesInBlock = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Append(ReadOnlySpan<byte> source)
    {
        length += source.Length;
        if (buffered + source.Length <= BufferLength)
        {
            source.CopyTo(buffer.AsSpan(buffered));
            buffered += source.Length;
            return;
        }
        fixed (byte* secret = Secret)
        fixed (ulong* accumulator = accumulators)
        fixed (byte* held = buffer)
        fixed (byte* input = source)
        {
            var next = input;
            var end = input + source.Length;
            if (buffered > 0)
            {
                var fill = BufferLength - buffered;
                new ReadOnlySpan<byte>(next, fill).CopyTo(buffer.AsSpan(buffered));
                next += fill;
                ConsumeStripes(accumulator, ref stripesInBlock, held, BufferLength / StripeLength, secret, vectors);
                buffered = 0;
            }
            if (end - next > BufferLength)
            {
                var stripes = (int)((end - next - 1) / StripeLength);
                ConsumeStripes(accumulator, ref stripesInBlock, next, stripes, secret, vectors);
                next += (long)stripes * StripeLength;
                new ReadOnlySpan<byte>(next - StripeLength, StripeLength).CopyTo(buffer.AsSpan(BufferLength - StripeLength));
            }
            buffered = (int)(end - next);
            new ReadOnlySpan<byte>(next, buffered).CopyTo(buffer);
        }
    }

    /// <summary>The hash of everything appended so far; appending may go on.</summary>
    public ulong GetCurrentHashAsUInt64()
    {
        fixed (byte* secret = Secret)
        fixed (byte* held = buffer)
        {
            if (length <= MidSizeMax)
            {
                return Short(held, (int)length, secret);
            }
            var accumulator = stackalloc ulong[8];
            accumulators.CopyTo(new Span<ulong>(accumulator, 8));
            var stripesSoFar = stripesInBlock;
            var lastStripe = stackalloc byte[StripeLength];
            byte* last;
            if (buffered >= StripeLength)
            {
                ConsumeStripes(accumulator, ref stripesSoFar, held, (buffered - 1) / StripeLength, secret, vectors);
                last = held + buffered - StripeLength;
            }
            else
            {
                // The stripe ends with the bytes held; its start is the end of the stripe taken last.
                var catchUp = StripeLength - buffered;
                new ReadOnlySpan<byte>(held + BufferLength - catchUp, catchUp).CopyTo(new Span<byte>(lastStripe, catchUp));
                new ReadOnlySpan<byte>(held, buffered).CopyTo(new Span<byte>(lastStripe + catchUp, buffered));
                last = lastStripe;
            }
            Accumulate(accumulator, last, secret + SecretLength - StripeLength - 7);
            var result = (ulong)length * Prime64_1;
            for (var i = 0; i < 4; i++)
            {
                result += Multiply128Fold64(accumulator[2 * i] ^ Read64(secret + 11 + 16 * i), accumulator[2 * i + 1] ^ Read64(secret + 11 + 16 * i + 8));
            }
            return Avalanche(result);
        }
    }

    protected override void GetCurrentHashCore(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, GetCurrentHashAsUInt64());

    /// <summary>Takes <paramref name="stripes"/> stripes into the accumulators, scrambling them at the end of each block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ConsumeStripes(ulong* accumulator, ref int stripesInBlock, byte* input, int stripes, byte* secret, Vectors vectors)
    {
        if (vectors == Vectors.Avx512)
        {
            ConsumeStripes512(accumulator, ref stripesInBlock, input, stripes, secret);
            return;
        }
        while (stripes > 0)
        {
            var now = Math.Min(stripes, StripesPerBlock - stripesInBlock);
            AccumulateStripes(accumulator, input, secret + stripesInBlock * 8, now, vectors);
            input += now * StripeLength;
            stripes -= now;
            stripesInBlock += now;
            if (stripesInBlock == StripesPerBlock)
            {
                Scramble(accumulator, secret + SecretLength - StripeLength);
                stripesInBlock = 0;
            }
        }
    }

    /// <summary>
    /// <see cref="ConsumeStripes"/> with a stripe in one register: the eight accumulators stay in it from the first
    /// stripe to the last, scrambled there too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ConsumeStripes512(ulong* accumulator, ref int stripesInBlock, byte* input, int stripes, byte* secret)
    {
        var sum = Avx512F.LoadVector512(accumulator);
        var scrambleKey = Avx512F.LoadVector512((ulong*)(secret + SecretLength - StripeLength));
        var prime = Vector512.Create((uint)Prime32_1);
        while (stripes > 0)
        {
            var now = Math.Min(stripes, StripesPerBlock - stripesInBlock);
            var key = secret + stripesInBlock * 8;
            for (var end = input + now * StripeLength; input < end; input += StripeLength, key += 8)
            {
                var data = Avx512F.LoadVector512((ulong*)input);
                var keyed = Avx512F.Xor(data, Avx512F.LoadVector512((ulong*)key));
                var product = Avx512F.Multiply(keyed.AsUInt32(), Avx512F.ShiftRightLogical(keyed, 32).AsUInt32());
                var swapped = Avx512F.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
                // One addition per stripe on the path from one stripe's sum to the next: (sum + swapped) + product, two
                // there, took half as many bytes a second.
                sum = Avx512F.Add(sum, Avx512F.Add(swapped, product));
            }
            stripes -= now;
            stripesInBlock += now;
            if (stripesInBlock == StripesPerBlock)
            {
                // Each lane times a 32-bit prime, in two 32 x 32-bit products: x86 has no 64-bit lane multiply before AVX-512DQ.
                var mixed = Avx512F.Xor(Avx512F.Xor(sum, Avx512F.ShiftRightLogical(sum, 47)), scrambleKey);
                var low = Avx512F.Multiply(mixed.AsUInt32(), prime);
                var high = Avx512F.Multiply(Avx512F.ShiftRightLogical(mixed, 32).AsUInt32(), prime);
                sum = Avx512F.Add(low, Avx512F.ShiftLeftLogical(high, 32));
                stripesInBlock = 0;
            }
        }
        Avx512F.Store(accumulator, sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateStripes(ulong* accumulator, byte* input, byte* secret, int stripes, Vectors vectors)
    {
        if (vectors == Vectors.Avx2)
        {
            var low = Avx.LoadVector256(accumulator);
            var high = Avx.LoadVector256(accumulator + 4);
            for (var s = 0; s < stripes; s++, input += StripeLength, secret += 8)
            {
                low = Accumulate256(low, Avx.LoadVector256((ulong*)input), Avx.LoadVector256((ulong*)secret));
                high = Accumulate256(high, Avx.LoadVector256((ulong*)(input + 32)), Avx.LoadVector256((ulong*)(secret + 32)));
            }
            Avx.Store(accumulator, low);
            Avx.Store(accumulator + 4, high);
        }
        else if (vectors == Vectors.Sse2)
        {
            var a0 = Sse2.LoadVector128(accumulator);
            var a1 = Sse2.LoadVector128(accumulator + 2);
            var a2 = Sse2.LoadVector128(accumulator + 4);
            var a3 = Sse2.LoadVector128(accumulator + 6);
            for (var s = 0; s < stripes; s++, input += StripeLength, secret += 8)
            {
                a0 = Accumulate128(a0, Sse2.LoadVector128((ulong*)input), Sse2.LoadVector128((ulong*)secret));
                a1 = Accumulate128(a1, Sse2.LoadVector128((ulong*)(input + 16)), Sse2.LoadVector128((ulong*)(secret + 16)));
                a2 = Accumulate128(a2, Sse2.LoadVector128((ulong*)(input + 32)), Sse2.LoadVector128((ulong*)(secret + 32)));
                a3 = Accumulate128(a3, Sse2.LoadVector128((ulong*)(input + 48)), Sse2.LoadVector128((ulong*)(secret + 48)));
            }
            Sse2.Store(accumulator, a0);
            Sse2.Store(accumulator + 2, a1);
            Sse2.Store(accumulator + 4, a2);
            Sse2.Store(accumulator + 6, a3);
        }
        else
        {
            for (var s = 0; s < stripes; s++, input += StripeLength, secret += 8)
            {
                Accumulate(accumulator, input, secret);
            }
        }
    }

    /// <summary>
    /// Four lanes of a stripe: each lane adds its neighbour's input and the product of its keyed input's halves, in one
    /// addition to the accumulator (see <see cref="ConsumeStripes512"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Accumulate256(Vector256<ulong> accumulator, Vector256<ulong> data, Vector256<ulong> key)
    {
        var keyed = Avx2.Xor(data, key);
        var product = Avx2.Multiply(keyed.AsUInt32(), Avx2.ShiftRightLogical(keyed, 32).AsUInt32());
        var swapped = Avx2.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
        return Avx2.Add(accumulator, Avx2.Add(swapped, product));
    }

    /// <summary><see cref="Accumulate256"/> on two lanes, for x86 without AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Accumulate128(Vector128<ulong> accumulator, Vector128<ulong> data, Vector128<ulong> key)
    {
        var keyed = Sse2.Xor(data, key);
        var product = Sse2.Multiply(keyed.AsUInt32(), Sse2.ShiftRightLogical(keyed, 32).AsUInt32());
        var swapped = Sse2.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
        return Sse2.Add(accumulator, Sse2.Add(swapped, product));
    }

    /// <summary>One stripe into the eight accumulators, without vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate(ulong* accumulator, byte* input, byte* secret)
    {
        for (var i = 0; i < 8; i++)
        {
            var data = Read64(input + 8 * i);
            var keyed = data ^ Read64(secret + 8 * i);
            accumulator[i ^ 1] += data;
            accumulator[i] += (uint)keyed * (keyed >> 32);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scramble(ulong* accumulator, byte* secret)
    {
        for (var i = 0; i < 8; i++)
        {
            var value = accumulator[i];
            value ^= value >> 47;
            value ^= Read64(secret + 8 * i);
            accumulator[i] = value * Prime32_1;
        }
    }

    /// <summary>Inputs of at most 240 bytes, hashed whole.</summary>
    private static ulong Short(byte* input, int length, byte* secret)
    {
        switch (length)
        {
            case 0:
                return Avalanche64(Read64(secret + 56) ^ Read64(secret + 64));
            case <= 3:
                {
                    var combined = ((uint)input[0] << 16) | ((uint)input[length >> 1] << 24) | input[length - 1] | ((uint)length << 8);
                    return Avalanche64(combined ^ (ulong)(Read32(secret) ^ Read32(secret + 4)));
                }
            case <= 8:
                {
                    var keyed = (Read32(input + length - 4) + ((ulong)Read32(input) << 32)) ^ (Read64(secret + 8) ^ Read64(secret + 16));
                    return RotateMix(keyed, length);
                }
            case <= 16:
                {
                    var low = Read64(input) ^ (Read64(secret + 24) ^ Read64(secret + 32));
                    var high = Read64(input + length - 8) ^ (Read64(secret + 40) ^ Read64(secret + 48));
                    return Avalanche((ulong)length + BinaryPrimitives.ReverseEndianness(low) + high + Multiply128Fold64(low, high));
                }
            case <= 128:
                {
                    var accumulator = (ulong)length * Prime64_1;
                    if (length > 32)
                    {
                        if (length > 64)
                        {
                            if (length > 96)
                            {
                                accumulator += Mix16(input + 48, secret + 96) + Mix16(input + length - 64, secret + 112);
                            }
                            accumulator += Mix16(input + 32, secret + 64) + Mix16(input + length - 48, secret + 80);
                        }
                        accumulator += Mix16(input + 16, secret + 32) + Mix16(input + length - 32, secret + 48);
                    }
                    accumulator += Mix16(input, secret) + Mix16(input + length - 16, secret + 16);
                    return Avalanche(accumulator);
                }
            default:
                {
                    var accumulator = (ulong)length * Prime64_1;
                    for (var i = 0; i < 8; i++)
                    {
                        accumulator += Mix16(input + 16 * i, secret + 16 * i);
                    }
                    accumulator = Avalanche(accumulator);
                    for (var i = 8; i < length / 16; i++)
                    {
                        accumulator += Mix16(input + 16 * i, secret + 16 * (i - 8) + 3);
                    }
                    accumulator += Mix16(input + length - 16, secret + 136 - 17);
                    return Avalanche(accumulator);
                }
        }
    }

    private static ulong Mix16(byte* input, byte* secret)
        => Multiply128Fold64(Read64(input) ^ Read64(secret), Read64(input + 8) ^ Read64(secret + 8));

    private static ulong Multiply128Fold64(ulong left, ulong right)
    {
        var high = Math.BigMul(left, right, out var low);
        return low ^ high;
    }

    private static ulong Avalanche(ulong hash)
    {
        hash ^= hash >> 37;
        hash *= PrimeMx1;
        return hash ^ (hash >> 32);
    }

    private static ulong Avalanche64(ulong hash)
    {
        hash ^= hash >> 33;
        hash *= Prime64_2;
        hash ^= hash >> 29;
        hash *= Prime64_3;
        return hash ^ (hash >> 32);
    }

    private static ulong RotateMix(ulong hash, int length)
    {
        hash ^= BitOperations.RotateLeft(hash, 49) ^ BitOperations.RotateLeft(hash, 24);
        hash *= PrimeMx2;
        hash ^= (hash >> 35) + (ulong)length;
        hash *= PrimeMx2;
        return hash ^ (hash >> 28);
    }

    private static ulong Read64(byte* at) => BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(at, 8));

    private static uint Read32(byte* at) => BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(at, 4));
}
