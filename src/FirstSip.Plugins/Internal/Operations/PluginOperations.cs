using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FirstSip.Plugins.Internal.Dispatch;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Operations;

/// <summary>The operations API over the scope's context, the event stream and the stream operations.</summary>
internal sealed partial class PluginOperations(
    RunDbContextAccessor db,
    IPluginRunner runner,
    IStreamOperations streams,
    IConnectionMultiplexer redis,
    IOptions<PluginStreamsOptions> streamsOptions,
    CancelSignaler signals,
    DispatchSignal dispatchSignal,
    RunUpdateHub hub,
    TimeProvider timeProvider,
    ILogger<PluginOperations> logger) : IPluginOperations
{
    /// <summary>The most failed runs one breakdown reads, newest first.</summary>
    internal const int MaxBreakdownRuns = 10_000;

    /// <summary>The most event stream entries a timeline reads.</summary>
    internal const int MaxTimelineEntries = 10_000;

    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DoneMarkerLifetime = TimeSpan.FromDays(1);

    public async Task<PluginRunPage> SearchRunsAsync(PluginRunSearch search, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(search);
        ArgumentOutOfRangeException.ThrowIfNegative(search.Skip, nameof(search));
        if (search.Take is < 1 or > PluginRunner.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(search), search.Take, $"Take must be between 1 and {PluginRunner.MaxPageSize}");
        }

        var runs = db.Runs.AsNoTracking();
        if (search.PluginName is { Length: > 0 } pluginName)
        {
            runs = runs.Where(r => r.PluginName == pluginName);
        }

        if (search.UserId is { Length: > 0 } userId)
        {
            runs = runs.Where(r => r.UserId == userId);
        }

        if (search.Statuses is { Count: > 0 } statuses)
        {
            runs = runs.Where(PluginRunner.StatusIn(statuses));
        }

        if (search.CreatedFrom?.ToUniversalTime() is { } from)
        {
            runs = runs.Where(r => r.CreatedAt >= from);
        }

        if (search.CreatedBefore?.ToUniversalTime() is { } before)
        {
            runs = runs.Where(r => r.CreatedAt < before);
        }

        if (search.Text?.Trim() is { Length: > 0 } text)
        {
            if (Guid.TryParse(text, out var runId))
            {
                runs = runs.Where(r => r.RunId == runId);
            }
            else
            {
                var lower = text.ToLowerInvariant();

                // Translated to SQL lower() and a substring test, the same on SQLite and PostgreSQL; the culture-aware
                // overloads the analyzers prefer have no translation.
#pragma warning disable CA1304, CA1311, CA1862
                runs = runs.Where(r => r.PluginName.ToLower().Contains(lower) || r.UserId.ToLower().Contains(lower) ||
                                       (r.Error != null && r.Error.ToLower().Contains(lower)));
#pragma warning restore CA1304, CA1311, CA1862
            }
        }

        var total = await runs.CountAsync(cancellationToken).ConfigureAwait(false);
        var items = await runs
            .OrderByDescending(r => r.CreatedAt)
            .ThenByDescending(r => r.RunId)
            .Skip(search.Skip)
            .Take(search.Take)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        return new PluginRunPage(items, total, search.Skip, search.Take);
    }

    public async Task<PluginRunTimeline?> GetTimelineAsync(Guid runId, CancellationToken cancellationToken = default)
    {
        var run = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return null;
        }

        var entries = new List<PluginRunTimelineEntry>
        {
            new() { At = run.CreatedAt, Kind = PluginRunTimelineKind.Created, Attempt = 1 },
        };
        var events = await ReadEventsAsync(run, cancellationToken).ConfigureAwait(false);
        entries.AddRange(events);
        entries.AddRange(await ReadEarlierEndsAsync(run, cancellationToken).ConfigureAwait(false));
        if (run.DispatchedAt is { } dispatched)
        {
            entries.Add(new() { At = dispatched, Kind = PluginRunTimelineKind.Dispatched, Attempt = run.Attempt });
        }

        if (run.StartedAt is { } started && !events.Any(e => e.Kind == PluginRunTimelineKind.Started && (e.Attempt ?? run.Attempt) == run.Attempt))
        {
            entries.Add(new() { At = started, Kind = PluginRunTimelineKind.Started, Attempt = run.Attempt });
        }

        if (run.Status.IsTerminal() && run.CompletedAt is { } completed)
        {
            entries.Add(new()
            {
                At = completed,
                Kind = PluginRunTimelineKind.Ended,
                Attempt = run.Attempt,
                Status = run.Status,
                Message = run.Status == PluginRunStatus.Completed ? null : run.Error,
            });
        }

        // A stable sort keeps, at equal times, the order above: created, events, dispatched, started, ended.
        var ordered = entries.Select((e, i) => (e, i)).OrderBy(x => x.e.At).ThenBy(x => x.i).Select(x => x.e).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            ordered[i] = ordered[i] with { SincePrevious = ordered[i].At - ordered[i - 1].At };
        }

        var now = timeProvider.GetUtcNow();
        var end = run.Status.IsTerminal() ? run.CompletedAt ?? now : now;
        return new PluginRunTimeline
        {
            Run = run,
            Entries = ordered,
            QueueTime = run.DispatchedAt is { } d && run.StartedAt is { } s ? s - d : null,
            ExecutionTime = run.StartedAt is { } start ? end - start : null,
            TotalTime = end - run.CreatedAt,
        };
    }

    private async Task<List<PluginRunTimelineEntry>> ReadEventsAsync(PluginRun run, CancellationToken cancellationToken)
    {
        if (!redis.IsConnected)
        {
            return [];
        }

        StreamEntry[] entries;
        try
        {
            var from = $"{Math.Max(0, (run.CreatedAt - ClockSkew).ToUnixTimeMilliseconds())}-0";
            entries = await redis.GetDatabase()
                .StreamRangeAsync(streamsOptions.Value.EventsStream, from, "+", MaxTimelineEntries)
                .WaitAsync(cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return [];
        }

        var events = new List<PluginRunTimelineEntry>();
        foreach (var entry in entries)
        {
            var decoded = PluginEventCodec.Instance.Decode(entry.Values);
            if (decoded.IsPoison || decoded.Message is not { } evt || evt.PluginRunId != run.RunId)
            {
                continue;
            }

            var kind = evt.Kind switch
            {
                PluginEventKind.Started => PluginRunTimelineKind.Started,
                PluginEventKind.Step => PluginRunTimelineKind.Step,
                _ => PluginRunTimelineKind.Heartbeat,
            };
            var at = evt.At == default ? StreamIdTime(entry.Id.ToString()) ?? run.CreatedAt : evt.At;
            events.Add(new() { At = at, Kind = kind, Attempt = evt.Attempt, Step = evt.Step, Message = evt.Message, Worker = evt.Worker });
        }

        return events;
    }

    /// <summary>
    /// The ends of the run's earlier attempts, from the results the result stream still holds (the run's columns keep only
    /// the current attempt's end).
    /// </summary>
    private async Task<List<PluginRunTimelineEntry>> ReadEarlierEndsAsync(PluginRun run, CancellationToken cancellationToken)
    {
        if (run.Attempt <= 1 || !redis.IsConnected)
        {
            return [];
        }

        StreamEntry[] entries;
        try
        {
            var from = $"{Math.Max(0, (run.CreatedAt - ClockSkew).ToUnixTimeMilliseconds())}-0";
            entries = await redis.GetDatabase()
                .StreamRangeAsync(streamsOptions.Value.ResultsStream, from, "+", MaxTimelineEntries)
                .WaitAsync(cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return [];
        }

        var ends = new List<PluginRunTimelineEntry>();
        foreach (var entry in entries)
        {
            var decoded = PluginResultCodec.Instance.Decode(entry.Values);
            if (decoded.IsPoison || decoded.Message is not { } result || result.PluginRunId != run.RunId ||
                result.Attempt is not { } attempt || attempt >= run.Attempt)
            {
                continue;
            }

            ends.Add(new()
            {
                At = StreamIdTime(entry.Id.ToString()) ?? run.CreatedAt,
                Kind = PluginRunTimelineKind.Ended,
                Attempt = attempt,
                Worker = result.Worker,
                Status = result.Status == PluginResultStatus.Completed ? PluginRunStatus.Completed
                    : result.FailureKind is PluginFailureKind.TimedOut or PluginFailureKind.NotStarted ? PluginRunStatus.TimedOut
                    : result.FailureKind is PluginFailureKind.Cancelled ? PluginRunStatus.Cancelled
                    : PluginRunStatus.Failed,
                Message = result.Error,
            });
        }

        return ends;
    }

    private static DateTimeOffset? StreamIdTime(string id)
    {
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return long.TryParse(dash < 0 ? id : id[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;
    }

    public async Task<IReadOnlyList<PluginFailureReason>> GetFailureBreakdownAsync(DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        var from = since.ToUniversalTime();
        var failed = await db.Runs.AsNoTracking()
            .Where(r => (r.Status == PluginRunStatus.Failed || r.Status == PluginRunStatus.TimedOut) && r.CompletedAt >= from)
            .OrderByDescending(r => r.CompletedAt)
            .Take(MaxBreakdownRuns)
            .Select(r => new { r.RunId, r.PluginName, r.Status, r.Error, r.CompletedAt })
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        return failed
            .GroupBy(r => FoldReason(r.Error))
            .Select(g => new PluginFailureReason
            {
                Reason = g.Key,
                Count = g.Count(),
                TimedOut = g.Count(r => r.Status == PluginRunStatus.TimedOut),
                Plugins = g.Select(r => r.PluginName).Distinct().Order(StringComparer.Ordinal).ToList(),
                Example = g.First().Error ?? "",
                LatestRunId = g.First().RunId,
                LatestAt = g.First().CompletedAt!.Value,
            })
            .OrderByDescending(r => r.Count)
            .ThenByDescending(r => r.LatestAt)
            .ToList();
    }

    /// <summary>The first line of an error, digits and ids folded, so that alike errors group together.</summary>
    internal static string FoldReason(string? error)
    {
        if (string.IsNullOrWhiteSpace(error))
        {
            return "(no error text)";
        }

        var line = error.Trim();
        var newline = line.IndexOfAny(['\r', '\n']);
        if (newline >= 0)
        {
            line = line[..newline];
        }

        line = IdPattern().Replace(line, "<id>");
        line = NumberPattern().Replace(line, "#");
        return line.Length > 200 ? line[..200] + "…" : line;
    }

    [GeneratedRegex(@"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\b\d+-\d+\b", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"\d+(\.\d+)?", RegexOptions.CultureInvariant)]
    private static partial Regex NumberPattern();

    public async Task<IReadOnlyList<PluginRunActivityBucket>> GetActivityAsync(DateTimeOffset since, TimeSpan interval, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.FromSeconds(1));
        var from = since.ToUniversalTime();
        var now = timeProvider.GetUtcNow();
        var count = Math.Max(1, (int)Math.Ceiling((now - from) / interval));
        if (count > 10_000)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "the interval makes more than 10,000 buckets");
        }

        var ended = await db.Runs.AsNoTracking()
            .Where(r => r.CompletedAt >= from &&
                        (r.Status == PluginRunStatus.Completed || r.Status == PluginRunStatus.Failed || r.Status == PluginRunStatus.TimedOut || r.Status == PluginRunStatus.Cancelled))
            .Select(r => new { r.Status, r.CompletedAt })
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        var counts = new int[count, 4];
        foreach (var run in ended)
        {
            var index = (int)((run.CompletedAt!.Value - from) / interval);
            if (index < 0 || index >= count)
            {
                continue;
            }

            counts[index, run.Status switch { PluginRunStatus.Completed => 0, PluginRunStatus.Failed => 1, PluginRunStatus.TimedOut => 2, _ => 3 }]++;
        }

        return Enumerable.Range(0, count)
            .Select(i => new PluginRunActivityBucket
            {
                Start = from + (interval * i),
                Completed = counts[i, 0],
                Failed = counts[i, 1],
                TimedOut = counts[i, 2],
                Cancelled = counts[i, 3],
            })
            .ToList();
    }

    public async Task<PluginRunActionResult> RetryAsync(Guid runId, CancellationToken cancellationToken = default)
    {
        var run = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return new(PluginRunActionOutcome.NotFound, null);
        }

        if (run.Status is not (PluginRunStatus.Failed or PluginRunStatus.TimedOut))
        {
            return new(PluginRunActionOutcome.NotAllowed, run);
        }

        if (run.StopSignalPending)
        {
            // The stop signal would land after the markers below are cleared and stop the new attempt.
            return new(PluginRunActionOutcome.Conflict, run);
        }

        // The workers settle attempts up to the failed one only (a late copy of its request never runs again), and the
        // stop signal of the ended run goes, so the new attempt starts. Done before the run is pending again.
        var database = redis.GetDatabase();
        var attempt = run.Attempt;
        await database.StringSetAsync(signals.RunKey(runId, "done"), "retry:" + attempt.ToString(CultureInfo.InvariantCulture), DoneMarkerLifetime)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        await database.KeyDeleteAsync(signals.CancelKey(runId)).WaitAsync(cancellationToken).ConfigureAwait(false);

        var now = timeProvider.GetUtcNow();
        var version = run.Version;
        var next = attempt + 1;
        var maxAttempts = Math.Max(run.MaxAttempts, next);
        DateTimeOffset? queueDeadline = run.QueueTimeoutSeconds is { } queueTimeout ? now + TimeSpan.FromSeconds(queueTimeout) : null;
        var changed = await db.Runs
            .Where(r => r.RunId == runId && r.Version == version && !r.StopSignalPending &&
                        (r.Status == PluginRunStatus.Failed || r.Status == PluginRunStatus.TimedOut))
            .ExecuteUpdateAsync(
                s => s.SetProperty(r => r.Status, PluginRunStatus.Pending)
                    .SetProperty(r => r.Attempt, next)
                    .SetProperty(r => r.MaxAttempts, maxAttempts)
                    .SetProperty(r => r.Output, (string?)null)
                    .SetProperty(r => r.CompletedAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.DispatchedAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.StartedAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.Deadline, (DateTimeOffset?)null)
                    .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.QueueDeadline, queueDeadline)
                    .SetProperty(r => r.RequestId, (string?)null)
                    .SetProperty(r => r.DispatchFailures, 0)
                    .SetProperty(r => r.Version, r => r.Version + 1),
                cancellationToken)
            .ConfigureAwait(false);
        var after = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false);
        if (changed == 0)
        {
            return new(PluginRunActionOutcome.Conflict, after);
        }

        logger.RunRetried(runId, next);
        if (after is not null)
        {
            hub.PublishStatus(after, now);
        }

        dispatchSignal.Notify();
        return new(PluginRunActionOutcome.Done, after);
    }

    public async Task<PluginRun?> CloneAsync(Guid runId, CancellationToken cancellationToken = default)
    {
        var run = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return null;
        }

        var clone = await runner.StartAsync(
                new StartPluginRunRequest
                {
                    PluginName = run.PluginName,
                    UserId = run.UserId,
                    Settings = JsonNode.Parse(run.Settings) as JsonObject,
                    MaxAttempts = run.MaxAttempts,
                    Timeout = run.TimeoutSeconds > 0 ? TimeSpan.FromSeconds(run.TimeoutSeconds) : null,
                    QueueTimeout = run.QueueTimeoutSeconds is { } queueTimeout ? TimeSpan.FromSeconds(queueTimeout) : null,
                },
                cancellationToken)
            .ConfigureAwait(false);
        logger.RunCloned(runId, clone.RunId);
        return clone;
    }

    public async Task<PluginRunActionResult> CancelAsync(Guid runId, string? reason = null, CancellationToken cancellationToken = default)
    {
        var cancelled = await runner.CancelAsync(runId, reason, cancellationToken).ConfigureAwait(false);
        var run = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false);
        return new(cancelled ? PluginRunActionOutcome.Done : run is null ? PluginRunActionOutcome.NotFound : PluginRunActionOutcome.NotAllowed, run);
    }

    public async Task<DeadLetterReplayResult> ReplayDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentException.ThrowIfNullOrEmpty(entryId);
        var letter = await streams.GetDeadLetterAsync(streamName, entryId, cancellationToken).ConfigureAwait(false);
        if (letter is null)
        {
            return new(DeadLetterReplayOutcome.NotFound, null, null);
        }

        if (streamName == streamsOptions.Value.RequestsStream && letter.RunId is { } runId &&
            await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false) is { } run)
        {
            var retried = await RetryAsync(run.RunId, cancellationToken).ConfigureAwait(false);
            if (retried.Outcome != PluginRunActionOutcome.Done)
            {
                return new(DeadLetterReplayOutcome.RunNotRetryable, null, retried.Run);
            }

            await streams.DeleteDeadLetterAsync(streamName, entryId, cancellationToken).ConfigureAwait(false);
            logger.DeadLetterRunRetried(entryId, streamName, runId);
            return new(DeadLetterReplayOutcome.RunRetried, null, retried.Run);
        }

        var newId = await streams.ReplayDeadLetterAsync(streamName, entryId, cancellationToken).ConfigureAwait(false);
        return newId is null ? new(DeadLetterReplayOutcome.NotFound, null, null) : new(DeadLetterReplayOutcome.Replayed, newId, null);
    }

    public async Task<int> DeleteTerminalRunsAsync(DateTimeOffset endedBefore, int batchSize = 1000, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var before = endedBefore.ToUniversalTime();
        var ids = await db.Runs.AsNoTracking()
            .Where(r => r.CompletedAt < before && !r.StopSignalPending &&
                        (r.Status == PluginRunStatus.Completed || r.Status == PluginRunStatus.Failed || r.Status == PluginRunStatus.TimedOut || r.Status == PluginRunStatus.Cancelled))
            .OrderBy(r => r.CompletedAt)
            .Select(r => r.RunId)
            .Take(batchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        if (ids.Count == 0)
        {
            return 0;
        }

        return await db.Runs
            .Where(r => ids.Contains(r.RunId) && r.CompletedAt < before &&
                        (r.Status == PluginRunStatus.Completed || r.Status == PluginRunStatus.Failed || r.Status == PluginRunStatus.TimedOut || r.Status == PluginRunStatus.Cancelled))
            .ExecuteDeleteAsync(cancellationToken)
            .ConfigureAwait(false);
    }
}
