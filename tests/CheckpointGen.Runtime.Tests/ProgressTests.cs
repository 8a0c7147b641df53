using System;
using System.Collections.Generic;
using System.Linq;
using CheckpointGen.Reliability;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>Large saves and loads say how far they are.</summary>
public sealed class ProgressTests
{
    private sealed class Recorder : IProgress<CheckpointProgress>
    {
        public List<CheckpointProgress> Reports { get; } = [];

        public void Report(CheckpointProgress value) => Reports.Add(value);
    }

    [Fact]
    public void Save_and_load_report_bytes_done_up_to_the_trainable_total()
    {
        using var folder = new TempFolder();
        var path = folder.File("big.safetensors");
        using var model = new ReliabilityModel(features: 1500);
        var total = model.TrainableStateDict().Values.Sum(t => t.numel() * t.element_size());
        var saving = new Recorder();
        var loading = new Recorder();

        model.SaveCheckpoint(path, saving);
        model.LoadCheckpoint(path, new CheckpointLoadOptions { Progress = loading });

        foreach (var reports in new[] { saving.Reports, loading.Reports })
        {
            Assert.True(reports.Count > 1, "several reports for a file of several pieces");
            Assert.All(reports, r => Assert.Equal(total, r.BytesTotal));
            Assert.Equal(reports.Select(r => r.BytesDone).Order(), reports.Select(r => r.BytesDone));
            Assert.Equal(total, reports[^1].BytesDone);
            Assert.Equal(1.0, reports[^1].Fraction);
        }
    }
}
