using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace CheckpointGen.Reliability;

/// <summary>What a fuzzing run saw.</summary>
public sealed record FuzzReport(int Cases, int Loaded, int FormatErrors, int MismatchErrors, int UnexpectedExceptions, int ChangedModels, TimeSpan Slowest, IReadOnlyList<string> Failures)
{
    public override string ToString()
        => $"{Cases} cases: {Loaded} loaded, {FormatErrors} refused as not a valid checkpoint, {MismatchErrors} refused as not fitting the model; " +
           $"{UnexpectedExceptions} unexpected exceptions, {ChangedModels} models changed by a refused file; slowest load {Slowest.TotalMilliseconds:F1} ms";
}

/// <summary>
/// Loads seeded mutations of a real checkpoint (bit flips, header bytes, digits of offsets and shapes, truncations,
/// appended bytes, absurd header lengths, zeroed data, JSON escapes): each load must succeed or throw one of the two documented
/// exceptions, and a refused file must leave the model exactly as it was.
/// </summary>
public static class CheckpointFuzzer
{
    public static FuzzReport Run(int cases, int seed, string folder)
    {
        manual_seed(seed);
        var random = new Random(seed);
        var original = Path.Combine(folder, "original.safetensors");
        var mutated = Path.Combine(folder, "mutated.safetensors");
        using (var saved = new ReliabilityModel())
        {
            saved.SaveCheckpoint(original);
        }
        var bytes = File.ReadAllBytes(original);
        var headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);

        using var model = new ReliabilityModel();
        using var snapshot = new ModelSnapshot(model);
        int loaded = 0, format = 0, mismatch = 0, unexpected = 0, changed = 0;
        var slowest = TimeSpan.Zero;
        var failures = new List<string>();
        for (var i = 0; i < cases; i++)
        {
            var (content, mutation) = Mutate(bytes, headerEnd, random);
            File.WriteAllBytes(mutated, content);
            var clock = Stopwatch.StartNew();
            var refused = true;
            try
            {
                model.LoadCheckpoint(mutated);
                loaded++;
                refused = false;
            }
            catch (CheckpointFormatException)
            {
                format++;
            }
            catch (CheckpointMismatchException)
            {
                mismatch++;
            }
            catch (Exception e)
            {
                unexpected++;
                failures.Add($"case {i} ({mutation}): {e.GetType().Name}: {e.Message}");
            }
            // The first load pays for JIT compilation: it is not a load's cost.
            if (i > 0 && clock.Elapsed > slowest)
            {
                slowest = clock.Elapsed;
            }
            if (refused && snapshot.Changes(model) is { Count: > 0 } keys)
            {
                changed++;
                failures.Add($"case {i} ({mutation}): refused, but changed {string.Join(", ", keys)}");
            }
            snapshot.Restore(model);
        }
        return new FuzzReport(cases, loaded, format, mismatch, unexpected, changed, slowest, failures);
    }

    private static (byte[] Content, string Mutation) Mutate(byte[] original, int headerEnd, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(9))
        {
            case 0:
                var flips = random.Next(1, 5);
                for (var i = 0; i < flips; i++)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }
                return (bytes, $"{flips} bit flips");
            case 1:
                var at = random.Next(8, headerEnd);
                bytes[at] = (byte)random.Next(256);
                return (bytes, $"header byte {at} set to {bytes[at]}");
            case 2:
                var digits = Enumerable.Range(8, headerEnd - 8).Where(i => bytes[i] is >= (byte)'0' and <= (byte)'9').ToArray();
                var digit = digits[random.Next(digits.Length)];
                bytes[digit] = (byte)('0' + random.Next(10));
                return (bytes, $"header digit at {digit} set to {(char)bytes[digit]}");
            case 3:
                var length = random.Next(bytes.Length);
                return (bytes[..length], $"truncated to {length} bytes");
            case 4:
                var extra = new byte[random.Next(1, 65)];
                random.NextBytes(extra);
                return ([.. bytes, .. extra], $"{extra.Length} bytes appended");
            case 5:
                ulong[] lengths = [0, 1, 7, (ulong)headerEnd - 9, (ulong)headerEnd - 7, (ulong)bytes.Length, long.MaxValue, ulong.MaxValue, 1UL << 32, (ulong)random.NextInt64()];
                var declared = lengths[random.Next(lengths.Length)];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, declared);
                return (bytes, $"header length set to {declared}");
            case 6:
                var start = random.Next(headerEnd, bytes.Length);
                var count = random.Next(1, bytes.Length - start + 1);
                Array.Clear(bytes, start, count);
                return (bytes, $"{count} data bytes at {start} zeroed");
            case 7:
                // Escapes reach the JSON decoder's second stage: surrogates, controls, quotes.
                var escapeAt = random.Next(9, headerEnd);
                var escape = System.Text.Encoding.ASCII.GetBytes($"\\u{random.Next(0x10000):x4}");
                return ([.. bytes[..escapeAt], .. escape, .. bytes[escapeAt..]], $"escape {System.Text.Encoding.ASCII.GetString(escape)} inserted at {escapeAt}");
            default:
                var position = random.Next(8, headerEnd);
                byte[] inserted = [(byte)('0' + random.Next(10))];
                return ([.. bytes[..position], .. inserted, .. bytes[position..]], $"digit {(char)inserted[0]} inserted at {position}");
        }
    }
}
