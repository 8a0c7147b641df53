using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using CheckpointGen.Format;
using CheckpointGen.Saving;
using CheckpointGen.Training;

namespace CheckpointGen;

/// <summary>
/// The checkpoints of a training loop in one folder: saves every N steps or when asked, keeps the newest and the best,
/// resumes from the newest one that loads, and can write in the background.
/// </summary>
/// <remarks>
/// <para>
/// Each checkpoint is a file <c>step-{step}.safetensors</c> written atomically, with the step and the metrics in its
/// metadata (<c>checkpointgen.step</c>, <c>checkpointgen.metrics</c>). What the manager knows it reads back from those
/// headers, so a new manager over the same folder, after a crash or a restart, sees the same checkpoints and keeps
/// retaining from there. It deletes only files it recognises as its own (their name, CheckpointGen's metadata for the
/// same model type, and a step entry equal to the step in the name): before a save is written, those retention drops
/// whether or not it reaches the disk; once it is on disk, the rest. A file
/// it did not write is never deleted nor replaced: a save whose name such a file holds goes to <c>step-{step}-v1.safetensors</c>.
/// </para>
/// <para>
/// Save, <see cref="SaveIfDue"/>, <see cref="WaitForSaves"/>, <see cref="RestoreLatest"/> and <see cref="Dispose"/> belong
/// to the training loop's thread; one manager per folder.
/// </para>
/// </remarks>
public sealed class CheckpointManager : IDisposable
{
    private readonly ICheckpointable model;
    private readonly string modelType;
    private readonly CheckpointManagerOptions options;
    private readonly SaveStaging staging = new();

    /// <summary>Guards <see cref="kept"/>, which a background save updates.</summary>
    private readonly object gate = new();
    private readonly List<CheckpointInfo> kept;

    private Task pending = Task.CompletedTask;
    private bool disposed;

    /// <summary>
    /// Opens the folder (creating it if needed), reads the headers of the checkpoints it already holds, and deletes the
    /// temporary files that killed saves of this manager's names left there.
    /// </summary>
    /// <exception cref="ArgumentException">The options contradict themselves (<see cref="CheckpointManagerOptions.KeepBest"/> without a monitor, negative counts).</exception>
    public CheckpointManager(ICheckpointable model, string directory, CheckpointManagerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        this.model = model;
        this.options = options ?? CheckpointManagerOptions.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(this.options.EveryNSteps, $"{nameof(options)}.{nameof(CheckpointManagerOptions.EveryNSteps)}");
        ArgumentOutOfRangeException.ThrowIfNegative(this.options.KeepLast, $"{nameof(options)}.{nameof(CheckpointManagerOptions.KeepLast)}");
        ArgumentOutOfRangeException.ThrowIfNegative(this.options.KeepBest, $"{nameof(options)}.{nameof(CheckpointManagerOptions.KeepBest)}");
        if (this.options.KeepBest > 0 && string.IsNullOrEmpty(this.options.Monitor))
        {
            throw new ArgumentException($"KeepBest = {this.options.KeepBest} needs a Monitor: the metric that says which checkpoints are best.", nameof(options));
        }
        modelType = model.CheckpointPolicy.ModelType;
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
        AtomicFile.RemoveAbandoned(Directory, name => CheckpointFolder.TryParse(name, out _, out _));
        kept = CheckpointFolder.Scan(Directory, modelType).Where(c => c.Info is not null).Select(c => c.Info!).ToList();
        kept.Sort(ByStep);
    }

    /// <summary>The folder, as a full path.</summary>
    public string Directory { get; }

    /// <summary>
    /// The checkpoints the manager keeps, oldest step first: those found in the folder when it was opened and those saved
    /// since, once on disk (a background save appears when it is complete), less those retention deleted.
    /// </summary>
    public IReadOnlyList<CheckpointInfo> Checkpoints
    {
        get
        {
            lock (gate)
            {
                return kept.ToArray();
            }
        }
    }

    /// <summary>The kept checkpoint of the highest step, or <see langword="null"/>.</summary>
    public CheckpointInfo? Latest => Checkpoints is [.., var last] ? last : null;

    /// <summary>The kept checkpoint with the best <see cref="CheckpointManagerOptions.Monitor"/> value (the earlier on a tie), or <see langword="null"/> when none has it.</summary>
    public CheckpointInfo? Best => RankByMonitor(Checkpoints).FirstOrDefault();

    /// <summary>The files the last <see cref="RestoreLatest"/> passed over, newest first, each with the reason.</summary>
    public IReadOnlyList<SkippedCheckpoint> Skipped { get; private set; } = [];

    /// <summary>
    /// Saves a checkpoint of the model at <paramref name="step"/>: the trainable state, the training state when given
    /// (its optimizer and scheduler; the file records <paramref name="step"/> as its step), and the metrics; deletes what
    /// retention no longer keeps (what it would drop anyway before the write, the rest once the new file is on disk). With
    /// <see cref="CheckpointManagerOptions.Async"/>, returns once everything is copied and writes in the background; a
    /// save still running is waited for first.
    /// </summary>
    /// <returns>The checkpoint, with the path it has (or will have, while it is written in the background).</returns>
    /// <exception cref="Exception">The previous background save failed: its exception is rethrown here, once, and this save does not happen.</exception>
    /// <exception cref="IOException">An old checkpoint could not be deleted (also <see cref="UnauthorizedAccessException"/>): thrown once the new file is on disk and the other deletions are done.</exception>
    public CheckpointInfo Save(long step, TrainingState? training = null, IReadOnlyDictionary<string, double>? metrics = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        WaitForSaves();

        var info = new CheckpointInfo(Target(step), step, new Dictionary<string, double>(metrics ?? new Dictionary<string, double>(), StringComparer.Ordinal));
        var saveOptions = training is null ? CheckpointSaveOptions.Default : new CheckpointSaveOptions
        {
            Training = new TrainingState
            {
                Optimizer = training.Optimizer,
                Scheduler = training.Scheduler,
                Step = step,
                Epoch = training.Epoch,
                Metadata = training.Metadata,
            },
        };
        var prepared = CheckpointWriter.Prepare(model.CheckpointPolicy, saveOptions, CheckpointFolder.Entries(step, info.Metrics));
        if (!options.Async)
        {
            Write(prepared, info);
            return info;
        }
        var copied = staging.Copy(prepared);
        pending = Task.Factory.StartNew(() => Write(copied, info), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return info;
    }

    /// <summary>Saves when <c>step % EveryNSteps == 0</c> (never when <see cref="CheckpointManagerOptions.EveryNSteps"/> is 0); otherwise returns <see langword="null"/>.</summary>
    public CheckpointInfo? SaveIfDue(long step, TrainingState? training = null, IReadOnlyDictionary<string, double>? metrics = null)
        => options.EveryNSteps > 0 && step % options.EveryNSteps == 0 ? Save(step, training, metrics) : null;

    /// <summary>Waits until the background save, if any, is on disk and retention has run.</summary>
    /// <exception cref="Exception">The background save failed: its exception is rethrown here, once.</exception>
    public void WaitForSaves()
    {
        var task = pending;
        pending = Task.CompletedTask;
        task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Loads the newest checkpoint of the folder that loads into the model (and into <paramref name="training"/>: its
    /// optimizer, scheduler, step, epoch and metadata). Files that are damaged, truncated, or not this manager's are
    /// passed over and listed in <see cref="Skipped"/> with the reason; a checkpoint that is intact but does not fit the
    /// model or the training state is not passed over: its <see cref="CheckpointMismatchException"/> propagates, since
    /// every older one would start the run over with the same mistake.
    /// </summary>
    /// <returns>The checkpoint loaded, or <see langword="null"/> when no file loads (a fresh start; see <see cref="Skipped"/>).</returns>
    public CheckpointInfo? RestoreLatest(TrainingState? training = null, CheckpointLoadOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        WaitForSaves();
        var skipped = new List<SkippedCheckpoint>();
        try
        {
            foreach (var candidate in CheckpointFolder.Scan(Directory, modelType))
            {
                if (candidate.Info is not { } info)
                {
                    skipped.Add(new SkippedCheckpoint(candidate.Path, candidate.Reason!));
                    continue;
                }
                try
                {
                    if (training is null)
                    {
                        model.LoadCheckpoint(info.Path, options);
                    }
                    else
                    {
                        model.LoadCheckpoint(info.Path, training, options);
                    }
                    return info;
                }
                catch (Exception e) when (e is CheckpointFormatException or IOException or UnauthorizedAccessException)
                {
                    skipped.Add(new SkippedCheckpoint(info.Path, e.Message));
                }
            }
            return null;
        }
        finally
        {
            Skipped = skipped;
        }
    }

    /// <summary>Waits for the background save; its failure, if not yet reported, is thrown here.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        try
        {
            WaitForSaves();
        }
        finally
        {
            staging.Dispose();
        }
    }

    /// <summary>
    /// The path for a save at <paramref name="step"/>: <c>step-{step}.safetensors</c>, replacing the manager's own file of
    /// that step; when a file the manager did not write (or cannot read) holds that name, the first free or own <c>-v{n}</c> name.
    /// </summary>
    private string Target(long step)
    {
        for (var version = 0; ; version++)
        {
            var path = Path.Combine(Directory, CheckpointFolder.FileName(step, version));
            if (!Path.Exists(path) || (File.Exists(path) && CheckpointFolder.Read(path, modelType).Info?.Step == step))
            {
                return path;
            }
        }
    }

    /// <summary>
    /// Deletes what retention drops from the checkpoints already there (it would drop them after the save too), writes the
    /// file durably and atomically, lists it, and deletes what retention no longer keeps. Deleting first keeps runs killed
    /// between a save's rename and its deletions from leaving more than one checkpoint beyond retention, however many
    /// runs in a row end that way.
    /// </summary>
    private void Write(PreparedCheckpoint prepared, CheckpointInfo info)
    {
        DeleteUnkept(saved: null);
        AtomicFile.Write(info.Path, stream => prepared.Write(stream, progress: null));
        DeleteUnkept(info);
    }

    /// <summary>Lists <paramref name="saved"/>, when given, and deletes the manager's files that retention no longer keeps.</summary>
    private void DeleteUnkept(CheckpointInfo? saved)
    {
        List<CheckpointInfo> deleted;
        lock (gate)
        {
            if (saved is not null)
            {
                kept.RemoveAll(c => c.Path == saved.Path);
                kept.Add(saved);
                kept.Sort(ByStep);
            }
            deleted = Retention(kept, saved);
            kept.RemoveAll(deleted.Contains);
        }
        ExceptionDispatchInfo? failure = null;
        foreach (var old in deleted)
        {
            // Checked again just before: a file that is no longer the manager's (replaced by hand) stays.
            if (CheckpointFolder.Read(old.Path, modelType).Info?.Step != old.Step)
            {
                continue;
            }
            try
            {
                File.Delete(old.Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (saved is null)
                {
                    // A file that will not go must not stop the save: listed again, it is deleted once the save is on
                    // disk, where a failure is reported.
                    lock (gate)
                    {
                        kept.Add(old);
                        kept.Sort(ByStep);
                    }
                }
                else
                {
                    // Reported after the other deletions: one file that will not go does not keep the rest.
                    failure ??= ExceptionDispatchInfo.Capture(e);
                }
            }
        }
        failure?.Throw();
    }

    private static int ByStep(CheckpointInfo a, CheckpointInfo b) => a.Step != b.Step ? a.Step.CompareTo(b.Step) : string.CompareOrdinal(a.Path, b.Path);

    /// <summary>The checkpoints retention no longer keeps: all but the newest KeepLast, the best KeepBest and the one just saved, if any.</summary>
    private List<CheckpointInfo> Retention(IReadOnlyList<CheckpointInfo> all, CheckpointInfo? saved)
    {
        if (options.KeepLast == 0)
        {
            return [];
        }
        var keep = new HashSet<CheckpointInfo>(all.TakeLast(options.KeepLast));
        if (saved is not null)
        {
            keep.Add(saved);
        }
        keep.UnionWith(RankByMonitor(all).Take(options.KeepBest));
        return all.Where(c => !keep.Contains(c)).ToList();
    }

    /// <summary>The checkpoints with a number for the monitored metric, best first, the earlier step first on a tie.</summary>
    private IEnumerable<CheckpointInfo> RankByMonitor(IEnumerable<CheckpointInfo> checkpoints)
    {
        if (options.Monitor is not { } monitor)
        {
            return [];
        }
        var ranked = checkpoints.Where(c => c.Metrics.TryGetValue(monitor, out var value) && !double.IsNaN(value));
        return options.Minimize
            ? ranked.OrderBy(c => c.Metrics[monitor]).ThenBy(c => c.Step)
            : ranked.OrderByDescending(c => c.Metrics[monitor]).ThenBy(c => c.Step);
    }
}
