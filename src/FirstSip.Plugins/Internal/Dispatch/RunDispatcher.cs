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
/// The outbox dispatcher: claims due pending runs (a version-conditional update to <c>dispatched</c>, so two
/// app instances never publish the same run), publishes them to the request stream pipelined, each under a span
/// that continues the run's trace, and puts runs whose publish failed back to <c>pending</c> for the next cycle.
/// </summary>
internal sealed class RunDispatcher(
    IServiceScopeFactory scopeFactory,
    IStreamPublisher<PluginRequest> publisher,
    IConnectionMultiplexer redis,
    DispatchSignal signal,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunDispatcher> logger) : BackgroundService
{
    public const string SecretsWithoutKeyError =
        "the run needs secrets but no seal key is configured (PluginRunStoreOptions.SealKey); secrets are never sent in the clear";

    private readonly byte[]? _sealKey = SecretSealer.ParseKey(options.Value.SealKey);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var full = false;
            try
            {
                var result = await DispatchOnceAsync(stoppingToken).ConfigureAwait(false);
                full = result.Claimed >= options.Value.DispatchBatchSize && result.Failed == 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.DispatcherFailed(ex);
            }

            if (!full)
            {
                try
                {
                    await signal.WaitAsync(options.Value.DispatchInterval, timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Runs one dispatch cycle.</summary>
    /// <returns>How many runs were claimed, published, and put back after a failed publish.</returns>
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
            var secretsProvider = scope.ServiceProvider.GetService<IPluginSecretsProvider>();
            var now = timeProvider.GetUtcNow();
            var claimed = await ClaimAsync(db, now, cancellationToken).ConfigureAwait(false);
            if (claimed.Count == 0)
            {
                return (0, 0, 0);
            }

            var batch = new List<(PluginRun Run, PluginRequest Request)>(claimed.Count);
            var putBack = new List<PluginRun>();
            foreach (var run in claimed)
            {
                string? sealedSecrets = null;
                IReadOnlyDictionary<string, string>? secrets;
                try
                {
                    secrets = secretsProvider is null ? null : await secretsProvider.GetSecretsAsync(run, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.SecretsProviderFailed(ex, run.RunId);
                    putBack.Add(run);
                    continue;
                }

                if (secrets is { Count: > 0 })
                {
                    if (_sealKey is null)
                    {
                        await FailAsync(db, run, SecretsWithoutKeyError, now, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    sealedSecrets = SecretSealer.Seal(_sealKey, run.RunId.ToString("D"), secrets);
                }

                using var settings = JsonDocument.Parse(run.Settings);
                batch.Add((run, new PluginRequest
                {
                    PluginRunId = run.RunId,
                    PluginName = run.PluginName,
                    UserId = run.UserId,
                    Settings = settings.RootElement.Clone(),
                    Attempt = run.Attempt,
                    Deadline = run.Deadline,
                    TimeoutSeconds = run.TimeoutSeconds,
                    Secrets = sealedSecrets,
                }));
            }

            var published = await PublishAsync(db, batch, putBack, now, cancellationToken).ConfigureAwait(false);
            if (putBack.Count > 0)
            {
                await PutBackAsync(db, putBack).ConfigureAwait(false);
            }

            if (published > 0)
            {
                logger.RunsDispatched(published, publisher.StreamName);
            }

            return (claimed.Count, published, putBack.Count);
        }
    }

    private async Task<List<PluginRun>> ClaimAsync(RunDbContextAccessor db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var candidates = await db.Runs.AsNoTracking()
            .Where(r => r.Status == PluginRunStatus.Pending && (r.NextAttemptAt == null || r.NextAttemptAt <= now))
            .OrderBy(r => r.CreatedAt)
            .Take(options.Value.DispatchBatchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        if (candidates.Count == 0)
        {
            return candidates;
        }

        var claimed = new List<PluginRun>(candidates.Count);
        var transaction = await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            foreach (var run in candidates)
            {
                var deadline = now + TimeSpan.FromSeconds(run.TimeoutSeconds) + options.Value.DeadlineGracePeriod;
                var version = run.Version;
                var changed = await db.Runs
                    .Where(r => r.RunId == run.RunId && r.Status == PluginRunStatus.Pending && r.Version == version)
                    .ExecuteUpdateAsync(
                        s => s.SetProperty(r => r.Status, PluginRunStatus.Dispatched)
                            .SetProperty(r => r.DispatchedAt, now)
                            .SetProperty(r => r.Deadline, deadline)
                            .SetProperty(r => r.StartedAt, (DateTimeOffset?)null)
                            .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                            .SetProperty(r => r.Version, r => r.Version + 1),
                        cancellationToken)
                    .ConfigureAwait(false);
                if (changed == 1)
                {
                    run.Status = PluginRunStatus.Dispatched;
                    run.DispatchedAt = now;
                    run.Deadline = deadline;
                    run.StartedAt = null;
                    run.NextAttemptAt = null;
                    run.Version = version + 1;
                    claimed.Add(run);
                }
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        return claimed;
    }

    private async Task<int> PublishAsync(
        RunDbContextAccessor db,
        List<(PluginRun Run, PluginRequest Request)> batch,
        List<PluginRun> putBack,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return 0;
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
                catch (Exception ex) when (ex is not OperationCanceledException)
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

        var published = 0;
        Exception? firstFailure = null;
        foreach (var (run, activity, send) in sends)
        {
            try
            {
                await send.ConfigureAwait(false);
                published++;
                PluginRunsMetrics.Add(metrics.Dispatched, run.PluginName);
                hub.PublishStatus(run, now);
            }
            catch (PayloadTooLargeException ex)
            {
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                await FailAsync(db, run, $"the request is too large for the stream: {ex.Message}", now, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Redis down, a timeout, or the host stopping: the run goes back to pending. If the entry did reach
                // the stream after all, the workers' lease and done keys absorb the second copy.
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                firstFailure ??= ex;
                putBack.Add(run);
            }
            finally
            {
                activity?.Dispose();
            }
        }

        if (firstFailure is not null)
        {
            logger.DispatchFailed(firstFailure, putBack.Count, publisher.StreamName);
        }

        return published;
    }

    /// <summary>Puts runs whose publish failed back to pending; runs even while stopping, so none stays dispatched without being on the stream.</summary>
    private static async Task PutBackAsync(RunDbContextAccessor db, List<PluginRun> runs)
    {
        foreach (var run in runs)
        {
            var version = run.Version;
            await db.Runs
                .Where(r => r.RunId == run.RunId && r.Status == PluginRunStatus.Dispatched && r.Version == version)
                .ExecuteUpdateAsync(
                    s => s.SetProperty(r => r.Status, PluginRunStatus.Pending)
                        .SetProperty(r => r.DispatchedAt, (DateTimeOffset?)null)
                        .SetProperty(r => r.Deadline, (DateTimeOffset?)null)
                        .SetProperty(r => r.Version, r => r.Version + 1),
                    CancellationToken.None)
                .ConfigureAwait(false);
        }
    }

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
        }
    }
}
