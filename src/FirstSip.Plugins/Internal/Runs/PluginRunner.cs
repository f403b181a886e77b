using System.Diagnostics;
using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using FirstSip.Plugins.Internal.Dispatch;
using FirstSip.Plugins.Internal.Secrets;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>The runner API over the scope's context.</summary>
internal sealed class PluginRunner(
    RunDbContextAccessor db,
    IPluginCatalog catalog,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    DispatchSignal dispatchSignal,
    CancelSignaler cancelSignaler,
    PluginRunsMetrics metrics,
    RequestQueueProbe queueProbe,
    IServiceScopeFactory scopeFactory,
    RunDispatcher dispatcher,
    RunEventBackfill backfill,
    ILogger<PluginRunner> logger,
    RunStartBatcher? startBatcher = null) : IPluginRunner
{
    public const int MaxPageSize = 1000;

    public const string SecretsWithoutKeyProblem =
        "the run has secrets (StartPluginRunRequest.Secrets or credentials given as _ settings such as _llm_api_key) but no seal key is " +
        "configured (PluginRunStoreOptions.SealKey); secrets are never stored or sent in the clear";

    private readonly byte[]? _sealKey = SecretSealer.ParseKey(options.Value.SealKey);

    public async Task<PluginRun> StartAsync(StartPluginRunRequest request, CancellationToken cancellationToken = default)
    {
        var (plugin, validation, secrets) = Validate(request);
        var storeOptions = options.Value;
        var now = timeProvider.GetUtcNow();

        // With an idempotency key, the lookup and the insert run in one transaction that holds a lock on the key
        // (SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so two
        // concurrent starts with the same key create one run. The caller's open transaction is used when there is one.
        var ownTransaction = request.IdempotencyKey is not null && db.Context.Database.CurrentTransaction is null
            ? await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false)
            : null;
        PluginRun run;
        try
        {
            if (request.IdempotencyKey is { } key)
            {
                if (db.Context.Database.IsNpgsql())
                {
                    var lockKey = IdempotencyLockKey(plugin.Name, request.UserId, key);
                    await db.Context.Database.ExecuteSqlInterpolatedAsync($"SELECT pg_advisory_xact_lock({lockKey})", cancellationToken)
                        .ConfigureAwait(false);
                }

                var since = now - (request.IdempotencyWindow ?? storeOptions.DefaultIdempotencyWindow);
                var existing = await db.Runs.AsNoTracking()
                    .Where(r => r.PluginName == plugin.Name && r.UserId == request.UserId && r.IdempotencyKey == key && r.CreatedAt >= since)
                    .OrderByDescending(r => r.CreatedAt)
                    .FirstOrDefaultAsync(cancellationToken)
                    .ConfigureAwait(false);
                if (existing is not null)
                {
                    logger.RunStartDeduplicated(existing.RunId, existing.PluginName, existing.UserId);
                    return existing;
                }
            }

            run = await InsertAsync(request, plugin, validation, secrets, now, cancellationToken).ConfigureAwait(false);
            if (ownTransaction is not null)
            {
                await ownTransaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (ownTransaction is not null)
            {
                await ownTransaction.DisposeAsync().ConfigureAwait(false);
            }
        }

        Announce(run, now);
        return run;
    }

    /// <summary>
    /// Validates a start request and builds its pending run without writing it, for a caller that adds it to the scope's
    /// context and saves it in its own transaction (the scheduler), then calls <see cref="Announce"/> after the commit.
    /// </summary>
    /// <exception cref="UnknownPluginException">The plugin is not in the catalog.</exception>
    /// <exception cref="InvalidPluginSettingsException">The settings fail the plugin's schema.</exception>
    /// <exception cref="PluginSecretsException">The run has secrets and no seal key is configured.</exception>
    internal PluginRun Prepare(StartPluginRunRequest request, DateTimeOffset now)
    {
        var (plugin, validation, secrets) = Validate(request);
        return Build(request, plugin, validation, secrets, now);
    }

    /// <summary>Counts, logs and publishes a run just written, and wakes the dispatcher.</summary>
    internal void Announce(PluginRun run, DateTimeOffset now)
    {
        PluginRunsMetrics.Add(metrics.Started, run.PluginName);
        logger.RunStarted(run.RunId, run.PluginName, run.UserId);
        dispatchSignal.Notify();
        hub.PublishStatus(run, now);
    }

    /// <summary>Checks a start request (limits, plugin, credentials, settings) and splits its secrets out of its settings.</summary>
    private (PluginDescriptor Plugin, PluginSettingsValidation Validation, Dictionary<string, string> Secrets) Validate(StartPluginRunRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.PluginName, nameof(request));
        ArgumentException.ThrowIfNullOrWhiteSpace(request.UserId, nameof(request));
        if (request.MaxAttempts is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.MaxAttempts, "MaxAttempts must be at least 1");
        }

        if (request.Timeout is { } requestedTimeout && requestedTimeout < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(request), requestedTimeout, "Timeout must be at least one second");
        }

        if (request.QueueTimeout is { } requestedQueueTimeout && requestedQueueTimeout < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(request), requestedQueueTimeout, "QueueTimeout must be at least one second");
        }

        var plugin = catalog.GetPlugin(request.PluginName) ?? throw new UnknownPluginException(request.PluginName);

        // Credentials given as settings (the original system's _llm_api_key) become the run's secrets, never settings.
        var (settings, secrets) = RunCredentials.Split(request.Settings, plugin.SettingsSchemaJson);
        foreach (var (name, value) in request.Secrets ?? new Dictionary<string, string>())
        {
            ArgumentException.ThrowIfNullOrEmpty(name, nameof(request));
            secrets[name] = value ?? "";
        }

        if (secrets.Count > 0 && _sealKey is null)
        {
            throw new PluginSecretsException(plugin.Name, SecretsWithoutKeyProblem);
        }

        var validation = catalog.ValidateSettings(plugin.Name, settings);
        if (!validation.IsValid)
        {
            throw new InvalidPluginSettingsException(plugin.Name, validation.Errors);
        }

        return (plugin, validation, secrets);
    }

    private async Task<PluginRun> InsertAsync(
        StartPluginRunRequest request,
        PluginDescriptor plugin,
        PluginSettingsValidation validation,
        Dictionary<string, string> secrets,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var run = Build(request, plugin, validation, secrets, now);

        // The package's own context with nothing else to save: the insert joins the other callers' (group commit).
        if (startBatcher is not null && request.IdempotencyKey is null && db.Context.Database.CurrentTransaction is null
            && !db.Context.ChangeTracker.HasChanges())
        {
            await startBatcher.InsertAsync(run, cancellationToken).ConfigureAwait(false);
            return run;
        }

        db.Runs.Add(run);
        try
        {
            await db.Context.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            db.Context.Entry(run).State = EntityState.Detached;
        }

        return run;
    }

    private PluginRun Build(
        StartPluginRunRequest request,
        PluginDescriptor plugin,
        PluginSettingsValidation validation,
        Dictionary<string, string> secrets,
        DateTimeOffset now)
    {
        var storeOptions = options.Value;
        var runId = Guid.CreateVersion7(now);
        using var activity = PluginRunsMetrics.ActivitySource.StartActivity($"{plugin.Name} start", ActivityKind.Internal);
        activity?.SetTag("firstsip.run.id", runId.ToString("D"));
        activity?.SetTag(PluginRunsMetrics.PluginNameTag, plugin.Name);

        var timeout = request.Timeout ?? plugin.Timeout ?? storeOptions.DefaultTimeout;
        var queueTimeout = request.QueueTimeout ?? plugin.QueueTimeout ?? storeOptions.DefaultQueueTimeout;
        int? queueTimeoutSeconds = queueTimeout is { } q ? (int)Math.Clamp(Math.Ceiling(q.TotalSeconds), 1, int.MaxValue) : null;
        var expiresAt = request.Deadline?.ToUniversalTime() ?? (plugin.Deadline ?? storeOptions.DefaultDeadline) switch
        {
            { } overall => now + overall,
            null => (DateTimeOffset?)null,
        };
        var run = new PluginRun
        {
            RunId = runId,
            PluginName = plugin.Name,
            UserId = request.UserId,
            Status = PluginRunStatus.Pending,
            Settings = validation.Settings.ToJsonString(),
            Attempt = 1,
            MaxAttempts = request.MaxAttempts ?? storeOptions.DefaultMaxAttempts,
            IdempotencyKey = request.IdempotencyKey,
            CreatedAt = now,
            TimeoutSeconds = (int)Math.Max(1, Math.Ceiling(timeout.TotalSeconds)),
            QueueTimeoutSeconds = queueTimeoutSeconds,
            QueueDeadline = queueTimeoutSeconds is { } seconds ? now + TimeSpan.FromSeconds(seconds) : null,
            ExpiresAt = expiresAt,
            TraceParent = Activity.Current?.IdFormat == ActivityIdFormat.W3C ? Activity.Current.Id : null,
            SealedSecrets = secrets.Count > 0 ? SecretSealer.Seal(_sealKey!, runId.ToString("D"), secrets) : null,
            Version = 1,
        };

        return run;
    }

    /// <summary>A stable 64-bit key for PostgreSQL's advisory lock on one idempotency key.</summary>
    internal static long IdempotencyLockKey(string pluginName, string userId, string key)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{pluginName}\n{userId}\n{key}"));
        return BitConverter.ToInt64(hash, 0);
    }

    public Task<PluginRun?> GetAsync(Guid runId, CancellationToken cancellationToken = default) =>
        db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.RunId == runId, cancellationToken);

    public async Task<PluginRunPage> ListAsync(PluginRunQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Skip, nameof(query));
        if (query.Take is < 1 or > MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.Take, $"Take must be between 1 and {MaxPageSize}");
        }

        var runs = db.Runs.AsNoTracking();
        if (query.PluginName is { } pluginName)
        {
            runs = runs.Where(r => r.PluginName == pluginName);
        }

        if (query.UserId is { } userId)
        {
            runs = runs.Where(r => r.UserId == userId);
        }

        if (query.Statuses is { Count: > 0 } statuses)
        {
            runs = runs.Where(StatusIn(statuses));
        }

        if (query.CreatedFrom?.ToUniversalTime() is { } from)
        {
            runs = runs.Where(r => r.CreatedAt >= from);
        }

        if (query.CreatedBefore?.ToUniversalTime() is { } before)
        {
            runs = runs.Where(r => r.CreatedAt < before);
        }

        var total = await runs.CountAsync(cancellationToken).ConfigureAwait(false);
        var items = await runs
            .OrderByDescending(r => r.CreatedAt)
            .ThenByDescending(r => r.RunId)
            .Skip(query.Skip)
            .Take(query.Take)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        return new PluginRunPage(items, total, query.Skip, query.Take);
    }

    /// <summary>
    /// Waits for the terminal state only: no progress is reported, so no event is read back from the event stream. The row
    /// is read once, then again when a terminal update arrives from another process (through the relay) and at each poll
    /// interval; a run this process ended is returned as it committed it.
    /// </summary>
    public async Task<PluginRun> WaitAsync(Guid runId, CancellationToken cancellationToken = default)
    {
        using var subscription = await hub.SubscribeAsync(runId, cancellationToken).ConfigureAwait(false);
        var warnedPending = false;
        var pollInterval = options.Value.WatchPollInterval;
        while (true)
        {
            var run = await ReadInNewScopeAsync(runId, cancellationToken).ConfigureAwait(false)
                ?? throw new KeyNotFoundException($"no plugin run {runId}");
            if (run.Status.IsTerminal())
            {
                return run;
            }

            if (!warnedPending && run.Status == PluginRunStatus.Pending && !DispatcherRuns()
                && timeProvider.GetUtcNow() - run.CreatedAt is var pendingFor && pendingFor >= options.Value.PendingWarningAfter)
            {
                warnedPending = true;
                logger.RunPendingWithoutDispatcher(runId, pendingFor);
            }

            var ended = false;
            while (!ended)
            {
                ended = await WaitForNotificationAsync(subscription, pollInterval, cancellationToken).ConfigureAwait(false);
                while (subscription.Reader.TryRead(out var update))
                {
                    ended |= update.IsTerminal;
                }
            }

            // Ended by this process: the run as committed, without reading it back.
            if (subscription.TerminalRun is { } committed)
            {
                return committed.CopyAsStored(StoredTime.Resolution(db.Context));
            }
        }
    }

    /// <summary>
    /// Yields the run's state, then each transition once and in the order the run went through them (by the row's
    /// version, whichever process made it), each progress event once (by its event stream id, whichever process
    /// consumed it), with timestamps that never go back. Progress updates carry the status the watch last reported.
    /// </summary>
    public async IAsyncEnumerable<PluginRunUpdate> WatchAsync(Guid runId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var subscription = await hub.SubscribeAsync(runId, cancellationToken).ConfigureAwait(false);
        var run = await ReadInNewScopeAsync(runId, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"no plugin run {runId}");
        var last = RunUpdates.FromRun(run, Later(run.CreatedAt, timeProvider.GetUtcNow()));
        var seenEvents = new HashSet<string>(StringComparer.Ordinal);
        if (last.IsTerminal)
        {
            // A watch that starts after the end still reports the run's steps (read back from the event stream), then the end.
            foreach (var missed in await MissedProgressAsync(run, null, seenEvents, cancellationToken).ConfigureAwait(false))
            {
                yield return missed with { Status = last.Status, Attempt = last.Attempt, At = Later(run.CreatedAt, missed.At) };
            }

            yield return last;
            yield break;
        }

        yield return last;
        var lastAt = last.At;
        string? lastEventId = null;
        var warnedPending = false;
        var pollInterval = options.Value.WatchPollInterval;
        while (true)
        {
            var polled = await WaitForNotificationAsync(subscription, pollInterval, cancellationToken).ConfigureAwait(false);
            while (subscription.Reader.TryRead(out var update))
            {
                if (update.Kind == PluginRunUpdateKind.Progress)
                {
                    if (update.EventId is { } eventId)
                    {
                        if (seenEvents.Contains(eventId))
                        {
                            continue;
                        }

                        // Events of this run between the last one reported and this one, handled by other processes
                        // and not relayed here yet (or lost), are reported first: the stream's order is the run's.
                        if (lastEventId is null || RunEventBackfill.CompareIds(eventId, lastEventId) > 0)
                        {
                            foreach (var earlier in await backfill.ReadAsync(run, lastEventId, eventId, cancellationToken).ConfigureAwait(false))
                            {
                                if (earlier.EventId is { } earlierId && seenEvents.Add(earlierId))
                                {
                                    lastEventId = Max(lastEventId, earlierId);
                                    lastAt = Later(lastAt, earlier.At);
                                    yield return earlier with { Status = last.Status, Attempt = last.Attempt, At = lastAt };
                                }
                            }
                        }

                        if (!seenEvents.Add(eventId))
                        {
                            continue;
                        }

                        lastEventId = Max(lastEventId, eventId);
                    }

                    lastAt = Later(lastAt, update.At);
                    yield return update with { Status = last.Status, Attempt = last.Attempt, At = lastAt };
                }
                else if (IsNewer(update, last))
                {
                    if (update.IsTerminal)
                    {
                        foreach (var missed in await MissedProgressAsync(run, lastEventId, seenEvents, cancellationToken).ConfigureAwait(false))
                        {
                            lastAt = Later(lastAt, missed.At);
                            yield return missed with { Status = last.Status, Attempt = last.Attempt, At = lastAt };
                        }
                    }

                    lastAt = Later(lastAt, update.At);
                    last = update with { At = lastAt };
                    yield return last;
                    if (last.IsTerminal)
                    {
                        yield break;
                    }
                }
            }

            if (!polled)
            {
                continue;
            }

            // The periodic re-read sees what no update told this process (pub/sub delivers at most once).
            run = await ReadInNewScopeAsync(runId, cancellationToken).ConfigureAwait(false);
            if (run is null)
            {
                yield break;
            }

            var current = RunUpdates.FromRun(run, timeProvider.GetUtcNow());
            if (IsNewer(current, last))
            {
                if (current.IsTerminal)
                {
                    foreach (var missed in await MissedProgressAsync(run, lastEventId, seenEvents, cancellationToken).ConfigureAwait(false))
                    {
                        lastAt = Later(lastAt, missed.At);
                        yield return missed with { Status = last.Status, Attempt = last.Attempt, At = lastAt };
                    }
                }

                current = current with { At = Later(lastAt, current.At) };
                lastAt = current.At;
                last = current;
                yield return current;
                if (current.IsTerminal)
                {
                    yield break;
                }
            }

            if (!warnedPending && run.Status == PluginRunStatus.Pending && !DispatcherRuns()
                && timeProvider.GetUtcNow() - run.CreatedAt is var pendingFor && pendingFor >= options.Value.PendingWarningAfter)
            {
                warnedPending = true;
                logger.RunPendingWithoutDispatcher(runId, pendingFor);
            }
        }
    }

    /// <summary>The run's events after the last one this watch reported, read back from the event stream (no heartbeats).</summary>
    private async Task<IEnumerable<PluginRunUpdate>> MissedProgressAsync(PluginRun run, string? lastEventId, HashSet<string> seenEvents, CancellationToken cancellationToken)
    {
        var events = await backfill.ReadAsync(run, lastEventId, null, cancellationToken).ConfigureAwait(false);
        return events.Where(e => e.ProgressKind != "heartbeat" && e.EventId is { } id && seenEvents.Add(id));
    }

    private static string Max(string? a, string b) => a is null || RunEventBackfill.CompareIds(b, a) > 0 ? b : a;

    /// <summary>Whether this process's dispatcher is running (the host was started and not stopped).</summary>
    private bool DispatcherRuns() => dispatcher.ExecuteTask is { IsCompleted: false };

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;

    /// <summary>
    /// A status update is newer when the row's version grew, or, at the same version, when it says something else
    /// (a step is stored without a new version; so is a change made to the row by hand). An update with a lower version
    /// is a late copy of an earlier state and is never reported: the status never goes back.
    /// </summary>
    internal static bool IsNewer(PluginRunUpdate candidate, PluginRunUpdate last)
    {
        if (candidate.Version > 0 && last.Version > 0)
        {
            if (candidate.Version != last.Version)
            {
                return candidate.Version > last.Version;
            }

            if (candidate.Status == last.Status && candidate.Attempt == last.Attempt && candidate.LastStep is null)
            {
                return false;
            }
        }

        return candidate.Status != last.Status || candidate.Attempt != last.Attempt || candidate.LastStep != last.LastStep;
    }

    public async Task<bool> CancelAsync(Guid runId, string? reason = null, CancellationToken cancellationToken = default)
    {
        reason = string.IsNullOrWhiteSpace(reason) ? "cancelled" : reason;
        var now = timeProvider.GetUtcNow();
        var changed = await db.Runs
            .Where(r => r.RunId == runId &&
                        (r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running))
            .ExecuteUpdateAsync(
                s => s.SetProperty(r => r.Status, PluginRunStatus.Cancelled)
                    .SetProperty(r => r.Error, reason)
                    .SetProperty(r => r.CompletedAt, now)
                    .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.StopSignalPending, true)
                    .SetProperty(r => r.Version, r => r.Version + 1),
                cancellationToken)
            .ConfigureAwait(false);
        if (changed == 0)
        {
            return false;
        }

        var run = await GetAsync(runId, cancellationToken).ConfigureAwait(false);
        if (run is not null)
        {
            metrics.Ended(run, PluginRunStatus.Cancelled, now);
            hub.PublishStatus(run, now);
        }

        logger.RunCancelled(runId);

        // When Redis cannot take the signal now, the reaper sends it later: the debt is recorded with the transition.
        await cancelSignaler.SendAsync(db, runId, reason, CancellationToken.None).ConfigureAwait(false);
        return true;
    }

    public async Task<PluginQueueState> GetQueueAsync(Guid? runId = null, CancellationToken cancellationToken = default)
    {
        var counts = await db.Runs.AsNoTracking()
            .Where(r => r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running)
            .GroupBy(r => r.Status)
            .Select(g => new { Status = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        int Count(PluginRunStatus status) => counts.FirstOrDefault(c => c.Status == status)?.Count ?? 0;

        var oldest = await db.Runs.AsNoTracking()
            .Where(r => r.Status == PluginRunStatus.Dispatched && r.DispatchedAt != null)
            .OrderBy(r => r.DispatchedAt)
            .Select(r => r.DispatchedAt)
            .FirstOrDefaultAsync(cancellationToken)
            .ConfigureAwait(false);

        int? ahead = null;
        if (runId is { } id && await GetAsync(id, cancellationToken).ConfigureAwait(false) is { Status: PluginRunStatus.Dispatched, DispatchedAt: { } since })
        {
            ahead = await db.Runs.AsNoTracking()
                .CountAsync(r => r.Status == PluginRunStatus.Dispatched && r.DispatchedAt < since, cancellationToken)
                .ConfigureAwait(false);
        }

        var (stream, error) = await queueProbe.ReadAsync().ConfigureAwait(false);
        return new PluginQueueState
        {
            Pending = Count(PluginRunStatus.Pending),
            Waiting = Count(PluginRunStatus.Dispatched),
            Running = Count(PluginRunStatus.Running),
            OldestWaitingSince = oldest,
            Ahead = ahead,
            Stream = stream,
            StreamError = error,
        };
    }

    private async Task<bool> WaitForNotificationAsync(RunUpdateHub.Subscription subscription, TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var notified = subscription.Reader.WaitToReadAsync(linked.Token).AsTask();
        var poll = Task.Delay(pollInterval, timeProvider, linked.Token);
        var first = await Task.WhenAny(notified, poll).ConfigureAwait(false);
        await linked.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return first == poll;
    }

    private async Task<PluginRun?> ReadInNewScopeAsync(Guid runId, CancellationToken cancellationToken)
    {
        var scope = scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var context = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;
            return await RunQueries.Of(context).ByIdAsync(context, runId, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static Expression<Func<PluginRun, bool>> StatusIn(IEnumerable<PluginRunStatus> statuses)
    {
        var parameter = Expression.Parameter(typeof(PluginRun), "r");
        var status = Expression.Property(parameter, nameof(PluginRun.Status));
        Expression? body = null;
        foreach (var value in statuses.Distinct())
        {
            var test = Expression.Equal(status, Expression.Constant(value));
            body = body is null ? test : Expression.OrElse(body, test);
        }

        return Expression.Lambda<Func<PluginRun, bool>>(body ?? Expression.Constant(false), parameter);
    }
}
