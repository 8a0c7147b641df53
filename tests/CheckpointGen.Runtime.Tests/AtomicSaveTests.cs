using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using CheckpointGen.Reliability;
using Xunit;

namespace CheckpointGen.Runtime.Tests;

/// <summary>A save that fails at any byte, or races another, never costs the previous checkpoint.</summary>
public sealed class AtomicSaveTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public void A_stream_failing_after_any_number_of_bytes_leaves_the_previous_file_intact_and_no_temporary_file()
    {
        var path = folder.File("latest.safetensors");
        using var model = new ReliabilityModel();
        model.Fill(1);
        model.SaveCheckpoint(path);
        var previous = File.ReadAllBytes(path);
        model.Fill(2);

        for (var failAfter = 0; failAfter < previous.Length; failAfter += 7)
        {
            var error = Assert.Throws<IOException>(() => Format.AtomicFile.Write(path, stream => model.SaveCheckpoint(new FailingStream(stream, failAfter))));

            Assert.Equal(FailingStream.Message, error.Message);
            Assert.Equal(previous, File.ReadAllBytes(path));
            Assert.Equal([path], Directory.GetFiles(folder.Path));
        }
    }

    [Fact]
    public void Racing_saves_to_one_path_leave_one_complete_file()
    {
        var path = folder.File("latest.safetensors");
        using var first = new ReliabilityModel(features: 256);
        using var second = new ReliabilityModel(features: 256);
        first.Fill(1);
        second.Fill(2);
        using var reader = new ReliabilityModel(features: 256);

        for (var round = 0; round < 10; round++)
        {
            Parallel.Invoke(() => first.SaveCheckpoint(path), () => second.SaveCheckpoint(path));

            reader.LoadCheckpoint(path);
            Assert.Contains(reader.Version(), new long?[] { 1, 2 });
            Assert.Equal([path], Directory.GetFiles(folder.Path));
        }
    }

    [Fact]
    public void A_temporary_file_left_by_a_killed_save_is_removed_but_one_being_written_is_not()
    {
        var path = folder.File("latest.safetensors");
        var abandoned = folder.File($".latest.safetensors.{Guid.NewGuid():N}.tmp");
        var inProgress = folder.File($".latest.safetensors.{Guid.NewGuid():N}.tmp");
        var notOurs = new[] { folder.File(".latest.safetensors.my-notes.tmp"), folder.File($".latest.safetensors.best.{Guid.NewGuid():N}.tmp"), folder.File($".other.safetensors.{Guid.NewGuid():N}.tmp") };
        foreach (var file in notOurs.Append(abandoned))
        {
            File.WriteAllBytes(file, [1, 2, 3]);
        }
        // Held as a save in progress holds its file.
        using var writer = new FileStream(inProgress, FileMode.CreateNew, FileAccess.Write, FileShare.Delete);
        using var model = new ReliabilityModel();

        model.SaveCheckpoint(path);

        Assert.False(File.Exists(abandoned));
        Assert.True(File.Exists(inProgress));
        Assert.All(notOurs, file => Assert.True(File.Exists(file), file));
    }

    /// <summary>Fails the way a full disk does, after a set number of bytes.</summary>
    private sealed class FailingStream(Stream inner, long failAfter) : Stream
    {
        public const string Message = "No space left on device";
        private long written;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var allowed = (int)Math.Max(0, Math.Min(buffer.Length, failAfter - written));
            inner.Write(buffer[..allowed]);
            written += allowed;
            if (allowed < buffer.Length)
            {
                throw new IOException(Message);
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
