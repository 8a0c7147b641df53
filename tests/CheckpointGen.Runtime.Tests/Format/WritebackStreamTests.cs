using System;
using System.IO;
using CheckpointGen.Format;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

public sealed class WritebackStreamTests
{
    [Fact]
    public void Bytes_written_in_steps_and_patched_behind_the_writeback_reach_the_file_as_written()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.bin");
        var data = new byte[(20 << 20) + 12345];
        new Random(7).NextBytes(data);
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
        {
            var stream = new WritebackStream(file);
            stream.Write(new byte[8]);
            for (var offset = 8; offset < data.Length; offset += 3 << 20)
            {
                stream.Write(data.AsSpan(offset, Math.Min(3 << 20, data.Length - offset)));
            }
            // A header patched after the data, as the checksum is.
            stream.Position = 0;
            stream.Write(data.AsSpan(0, 8));
            stream.Position = data.Length;
            file.Flush(flushToDisk: true);
        }
        Assert.Equal(data, File.ReadAllBytes(path));
    }
}
