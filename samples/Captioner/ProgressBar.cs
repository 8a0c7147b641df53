using System;
using CheckpointGen;

namespace CheckpointGen.Samples;

/// <summary>A console progress bar for checkpoints large enough to wait for (64 MB and up); smaller ones finish before it would matter.</summary>
public sealed class ProgressBar : IProgress<CheckpointProgress>
{
    private const long Threshold = 64L << 20;

    public static ProgressBar ForLargeFiles { get; } = new();

    public void Report(CheckpointProgress value)
    {
        if (value.BytesTotal < Threshold || Console.IsOutputRedirected)
        {
            return;
        }
        var filled = (int)(value.Fraction * 30);
        Console.Write($"\r[{new string('#', filled),-30}] {value.BytesDone / 1e6,8:F1} / {value.BytesTotal / 1e6:F1} MB");
        if (value.BytesDone == value.BytesTotal)
        {
            Console.WriteLine();
        }
    }
}
