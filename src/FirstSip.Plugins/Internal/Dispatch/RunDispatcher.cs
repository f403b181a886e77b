using System.Diagnostics;
using System.Text.Json;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Secrets;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>
/// The outbox dispatcher: claims due pending runs (a version-conditional update to <c>dispatched</c>, so two app instances
/// never publish the same run), publishes them to the request stream in one bulk publish (or, when dispatch spans are
/// listened to, pipelined, each under a span that continues the run's trace), and records each request's entry id. Whatever goes wrong between the claim and the publish, every claimed run that
/// was not published goes back to <c>pending</c>: a failure of its own (its secrets provider, the publish) counts against
/// <see cref="PluginRunStoreOptions.MaxDispatchFailures"/> and delays its next try by the retry backoff; a stop does not count.
/// </summary>
internal sealed class RunDispatcher(
    IServiceScopeFactory scopeFactory,
    IStreamPublisher<PluginRequest> publisher,
    IConnectionMultiplexer redis,
    DispatchSignal signal,
    CancelSignaler stopSignals,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunDispatcher> logger) : BackgroundService
{
    public const string SecretsWithoutKeyError =
        "the run needs secrets but no seal key is configured (PluginRunStoreOptions.SealKey); secrets are never sent in the clear";

    public const string StoredSecretsUnreadableError =
        "the run's sealed secrets cannot be opened with the configured seal key (PluginRunStoreOptions.SealKey changed since the run started?)";

    private readonly byte[]? _sealKey = SecretSealer.ParseKey(options.Value.SealKey);
    private readonly LoopFailures _failures = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var full = false;
            var wait = options.Value.DispatchInterval;
            try
            {
                var result = await DispatchOnceAsync(stoppingToken).ConfigureAwait(false);
                full = result.Claimed >= options.Value.DispatchBatchSize && result.Failed == 0;
                if (_failures.Recovered())
                {
                    logger.DispatcherRecovered();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The database is unreachable, most likely: log the first failure and then now and then, and back off.
                if (_failures.ShouldLog())
                {
                    logger.DispatcherFailed(ex, _failures.Count);
                }

                wait = _failures.Backoff(options.Value.DispatchInterval);
            }

            if (!full)
            {
                try
                {
                    await signal.WaitAsync(wait, timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Runs one dispatch cycle.</summary>
    /// <returns>How many runs were claimed, published, and put back after a failure.</returns>
    internal async Task<(int Claimed, int Published, int Failed)> DispatchOnceAsync(CancellationToken cancellationToken)
    {
        if (!redis.IsConnected)
        {
            // Runs stay pending while Redis is unreachable; the multiplexer reconnects by itself.
            logger.DispatchSkipped(publisher.StreamName);
            return (0, 0, 0);
        }

        var scope = scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
            var now = timeProvider.GetUtcNow();
            var claimed = await ClaimAsync(db, now, cancellationToken).ConfigureAwait(false);
            if (claimed.Count == 0)
            {
                return (0, 0, 0);
            }

            // Every claimed run ends this cycle published, failed, or back in pending: the finally block puts back what is left.
            var outcomes = new Dictionary<Guid, string?>(claimed.Count);
            var published = new List<(PluginRun Run, string EntryId)>(claimed.Count);
            try
            {
                var batch = await PrepareAsync(db, scope.ServiceProvider, claimed, outcomes, now, cancellationToken).ConfigureAwait(false);
                await PublishAsync(db, batch, outcomes, published, now, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                var left = claimed.Where(r => !outcomes.ContainsKey(r.RunId) || outcomes[r.RunId] is not null).ToList();
                if (left.Count > 0)
                {
                    await PutBackAsync(db, left, outcomes, now).ConfigureAwait(false);
                }

                if (published.Count > 0)
                {
                    await RecordRequestIdsAsync(db, published).ConfigureAwait(false);
                }
            }

            if (published.Count > 0)
            {
                logger.RunsDispatched(published.Count, publisher.StreamName);
            }

            return (claimed.Count, published.Count, outcomes.Count(o => o.Value is not null));
        }
    }

    private async Task<List<PluginRun>> ClaimAsync(RunDbContextAccessor db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var candidates = await RunQueries.Of(db.Context).DueAsync(db.Context, now, options.Value.DispatchBatchSize, cancellationToken).ConfigureAwait(false);
        if (candidates.Count == 0)
        {
            return candidates;
        }

        // One statement claims the batch, each run at the version it was read with. A run written by another process after
        // this batch's clock was read is never dispatched before it was created: it is claimed alone, at its creation time.
        DateTimeOffset DispatchedAt(PluginRun run) => run.CreatedAt > now ? run.CreatedAt : now;
        var statements = RunStatements.Of(db.Context);
        var claimedIds = new HashSet<Guid>();
        var transaction = await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            var due = candidates.Where(r => r.CreatedAt <= now).Select(static r => (r.RunId, r.Version)).ToList();
            if (due.Count > 0)
            {
                claimedIds.UnionWith(await statements.ClaimAsync(db.Context, due, now, cancellationToken).ConfigureAwait(false));
            }

            foreach (var run in candidates.Where(r => r.CreatedAt > now))
            {
                claimedIds.UnionWith(await statements.ClaimAsync(db.Context, [(run.RunId, run.Version)], DispatchedAt(run), cancellationToken).ConfigureAwait(false));
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        var claimed = new List<PluginRun>(claimedIds.Count);
        foreach (var run in candidates.Where(r => claimedIds.Contains(r.RunId)))
        {
            run.Status = PluginRunStatus.Dispatched;
            run.DispatchedAt = DispatchedAt(run);
            run.RequestId = null;
            run.Deadline = null;
            run.StartedAt = null;
            run.NextAttemptAt = null;
            run.Version++;
            claimed.Add(run);
        }

        return claimed;
    }

    /// <summary>Builds each claimed run's request; a run whose secrets cannot be had gets its failure in <paramref name="outcomes"/>.</summary>
    private async Task<List<(PluginRun Run, PluginRequest Request)>> PrepareAsync(
        RunDbContextAccessor db,
        IServiceProvider services,
        List<PluginRun> claimed,
        Dictionary<Guid, string?> outcomes,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var secretsProvider = services.GetService<IPluginSecretsProvider>();
        var batch = new List<(PluginRun Run, PluginRequest Request)>(claimed.Count);
        foreach (var run in claimed)
        {
            string? sealedSecrets = null;
            IReadOnlyDictionary<string, string>? provided;
            try
            {
                provided = secretsProvider is null ? null : await secretsProvider.GetSecretsAsync(run, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Any exception of the provider's, a TaskCanceledException from its HTTP client included, is the run's failure.
                logger.SecretsProviderFailed(ex, run.RunId);
                outcomes[run.RunId] = ErrorText.Redact($"the secrets provider failed: {ex.GetType().Name}: {ex.Message}");
                continue;
            }

            var secrets = new Dictionary<string, string>(provided ?? new Dictionary<string, string>(), StringComparer.Ordinal);
            if (run.SealedSecrets is not null || secrets.Count > 0)
            {
                if (_sealKey is null)
                {
                    await FailAsync(db, run, SecretsWithoutKeyError, now, cancellationToken).ConfigureAwait(false);
                    outcomes[run.RunId] = null;
                    continue;
                }

                if (run.SealedSecrets is not null)
                {
                    // The run's own secrets (sealed when it started) win over the provider's.
                    try
                    {
                        foreach (var (name, value) in SecretSealer.Open(_sealKey, run.RunId.ToString("D"), run.SealedSecrets))
                        {
                            secrets[name] = value;
                        }
                    }
                    catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or FormatException or JsonException)
                    {
                        await FailAsync(db, run, StoredSecretsUnreadableError, now, cancellationToken).ConfigureAwait(false);
                        outcomes[run.RunId] = null;
                        continue;
                    }
                }

                sealedSecrets = SecretSealer.Seal(_sealKey, run.RunId.ToString("D"), secrets);
            }

            JsonElement settings;
            try
            {
                using var document = JsonDocument.Parse(run.Settings);
                settings = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                outcomes[run.RunId] = $"the run's stored settings are not valid JSON: {ex.Message}";
                continue;
            }

            batch.Add((run, new PluginRequest
            {
                PluginRunId = run.RunId,
                PluginName = run.PluginName,
                UserId = run.UserId,
                Settings = settings,
                Attempt = run.Attempt,
                Deadline = run.ExpiresAt,
                QueueDeadline = run.QueueDeadline,
                TimeoutSeconds = run.TimeoutSeconds,
                Secrets = sealedSecrets,
            }));
        }

        return batch;
    }

    private async Task PublishAsync(
        RunDbContextAccessor db,
        List<(PluginRun Run, PluginRequest Request)> batch,
        Dictionary<Guid, string?> outcomes,
        List<(PluginRun Run, string EntryId)> published,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        // Without a listener for the dispatch spans no request carries a run's own trace context: the batch goes out in
        // one bulk publish. With one, each request is sent under its run's span, so that the worker continues that trace.
        if (batch.Count > 1 && !PluginRunsMetrics.ActivitySource.HasListeners()
            && await PublishManyAsync(batch, outcomes, published, now, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var sends = new List<(PluginRun Run, Activity? Activity, Task<string> Send)>(batch.Count);
        var outer = Activity.Current;
        try
        {
            foreach (var (run, request) in batch)
            {
                ActivityContext.TryParse(run.TraceParent, null, out var parent);
                var activity = PluginRunsMetrics.ActivitySource.StartActivity($"{run.PluginName} dispatch", ActivityKind.Internal, parent);
                activity?.SetTag("firstsip.run.id", run.RunId.ToString("D"));
                activity?.SetTag("firstsip.run.attempt", run.Attempt);
                activity?.SetTag(PluginRunsMetrics.PluginNameTag, run.PluginName);
                Task<string> send;
                try
                {
                    send = publisher.PublishAsync(request, cancellationToken);
                }
                catch (Exception ex)
                {
                    send = Task.FromException<string>(ex);
                }

                sends.Add((run, activity, send));
                Activity.Current = outer;
            }
        }
        finally
        {
            Activity.Current = outer;
        }

        Exception? firstFailure = null;
        var failed = 0;
        foreach (var (run, activity, send) in sends)
        {
            try
            {
                var entryId = await send.ConfigureAwait(false);
                outcomes[run.RunId] = null;
                published.Add((run, entryId));
                PluginRunsMetrics.Add(metrics.Dispatched, run.PluginName);
                hub.PublishStatus(run, now);
            }
            catch (PayloadTooLargeException ex)
            {
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                await FailAsync(db, run, $"the request is too large for the stream: {ex.Message}", now, cancellationToken).ConfigureAwait(false);
                outcomes[run.RunId] = null;
            }
            catch (Exception ex)
            {
                // Redis down, a timeout, or the host stopping: the run goes back to pending. If the entry did reach
                // the stream after all, the workers' lease and done keys absorb the second copy.
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                firstFailure ??= ex;
                failed++;
                if (!cancellationToken.IsCancellationRequested)
                {
                    outcomes[run.RunId] = ErrorText.Redact($"publishing the request failed: {ex.Message}");
                }
            }
            finally
            {
                activity?.Dispose();
            }
        }

        if (firstFailure is not null)
        {
            logger.DispatchFailed(firstFailure, failed, publisher.StreamName);
        }
    }

    /// <summary>
    /// Publishes the batch with <see cref="IStreamPublisher{T}.PublishManyAsync"/>. Returns false, having sent nothing,
    /// when a request is too large for the stream: the caller then publishes one by one and fails that run alone.
    /// </summary>
    private async Task<bool> PublishManyAsync(
        List<(PluginRun Run, PluginRequest Request)> batch,
        Dictionary<Guid, string?> outcomes,
        List<(PluginRun Run, string EntryId)> published,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<string> ids;
        try
        {
            ids = await publisher.PublishManyAsync([.. batch.Select(static b => b.Request)], cancellationToken).ConfigureAwait(false);
        }
        catch (PayloadTooLargeException)
        {
            return false;
        }
        catch (Exception ex)
        {
            // Redis down, a timeout, or the host stopping: every run of the batch goes back to pending. Entries that did
            // reach the stream are absorbed, when published again, by the workers' lease and done keys.
            logger.DispatchFailed(ex, batch.Count, publisher.StreamName);
            if (!cancellationToken.IsCancellationRequested)
            {
                var reason = ErrorText.Redact($"publishing the request failed: {ex.Message}");
                foreach (var (run, _) in batch)
                {
                    outcomes[run.RunId] = reason;
                }
            }

            return true;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            var run = batch[i].Run;
            outcomes[run.RunId] = null;
            published.Add((run, ids[i]));
            PluginRunsMetrics.Add(metrics.Dispatched, run.PluginName);
            hub.PublishStatus(run, now);
        }

        return true;
    }

    /// <summary>
    /// Puts runs that were claimed and not published back to pending. It runs even while stopping (no cancellation), so
    /// no run stays dispatched without being on the stream. A run that failed for a reason of its own is put back with a
    /// delay, and failed once it reached <see cref="PluginRunStoreOptions.MaxDispatchFailures"/>.
    /// </summary>
    private async Task PutBackAsync(RunDbContextAccessor db, List<PluginRun> runs, Dictionary<Guid, string?> outcomes, DateTimeOffset now)
    {
        var storeOptions = options.Value;
        foreach (var run in runs)
        {
            var version = run.Version;
            var reason = outcomes.GetValueOrDefault(run.RunId);
            var unpublished = db.Runs.Where(r => r.RunId == run.RunId && r.Status == PluginRunStatus.Dispatched && r.Version == version);
            if (reason is null)
            {
                // Not tried (the cycle was interrupted): back to pending as it was.
                await unpublished.ExecuteUpdateAsync(
                        s => s.SetProperty(r => r.Status, PluginRunStatus.Pending)
                            .SetProperty(r => r.DispatchedAt, (DateTimeOffset?)null)
                            .SetProperty(r => r.Version, r => r.Version + 1),
                        CancellationToken.None)
                    .ConfigureAwait(false);
                continue;
            }

            var failures = run.DispatchFailures + 1;
            if (failures >= storeOptions.MaxDispatchFailures)
            {
                var error = $"dispatch failed {failures} times in a row; the last time: {reason}";
                await FailAsync(db, run, error, now, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            var delay = RunResultApplier.RetryDelay(storeOptions, failures);
            await unpublished.ExecuteUpdateAsync(
                    s => s.SetProperty(r => r.Status, PluginRunStatus.Pending)
                        .SetProperty(r => r.DispatchedAt, (DateTimeOffset?)null)
                        .SetProperty(r => r.DispatchFailures, failures)
                        .SetProperty(r => r.NextAttemptAt, now + delay)
                        .SetProperty(r => r.Version, r => r.Version + 1),
                    CancellationToken.None)
                .ConfigureAwait(false);
            logger.DispatchPutBack(run.RunId, failures, delay, reason);
        }
    }

    /// <summary>
    /// Records the entry id of each published request (not a transition: the version is left alone, and a run a worker
    /// already moved on keeps its id too), and clears the failure count.
    /// </summary>
    private static Task<int> RecordRequestIdsAsync(RunDbContextAccessor db, List<(PluginRun Run, string EntryId)> published) =>
        // One statement for the batch: one commit (one WAL sync on SQLite) instead of one per run.
        RunStatements.Of(db.Context).RecordRequestIdsAsync(
            db.Context, [.. published.Select(static p => (p.Run.RunId, p.Run.Attempt, p.EntryId))], CancellationToken.None);

    private async Task FailAsync(RunDbContextAccessor db, PluginRun run, string error, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await RunTransitions.FailAsync(db, run.RunId, error, now, run.Version, cancellationToken).ConfigureAwait(false))
        {
            logger.RunFailedAtDispatch(run.RunId, error);
            run.Status = PluginRunStatus.Failed;
            run.Error = error;
            run.CompletedAt = now;
            run.Version++;
            metrics.Ended(run, PluginRunStatus.Failed, now);
            hub.PublishStatus(run, now);

            // A publish that failed on our side may still have reached the stream: tell the workers not to start it.
            await stopSignals.SendAsync(db, run.RunId, error, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
