using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Retries the application of a stream entry (a result, a progress event) while the database fails transiently: a failover,
/// a restart, the server unreachable, SQLite busy. It retries in process, with exponential backoff and jitter up to
/// 10 seconds, for as long as the failure lasts; the reader keeps renewing the entry meanwhile, so it is neither reclaimed
/// nor counted as another delivery, and once every handler slot waits, the reader stops reading. Other failures are not retried here.
/// </summary>
internal sealed class TransientDatabaseRetry
{
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger<TransientDatabaseRetry> _logger;

    public TransientDatabaseRetry(TimeProvider timeProvider, ILogger<TransientDatabaseRetry> logger)
    {
        _logger = logger;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(100),
                MaxDelay = TimeSpan.FromSeconds(10),
                OnRetry = static args =>
                {
                    var (logger, stream, id) = args.Context.Properties.GetValue(EntryKey, default((ILogger, string, string)));
                    if (logger is not null)
                    {
                        // The first failure and every tenth are warnings; the tries between them are debug noise.
                        var level = args.AttemptNumber % 10 == 0 ? LogLevel.Warning : LogLevel.Debug;
                        logger.DatabaseUnavailable(level, args.Outcome.Exception!, stream, id, args.AttemptNumber + 1, args.RetryDelay);
                    }

                    return default;
                },
            })
            .Build();
    }

    private static readonly ResiliencePropertyKey<(ILogger, string, string)> EntryKey = new("firstsip.entry");

    /// <summary>Runs <paramref name="apply"/> until it succeeds, fails for a reason that is not transient, or is cancelled.</summary>
    public async Task ExecuteAsync(string streamName, string entryId, Func<CancellationToken, Task> apply, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(EntryKey, (_logger, streamName, entryId));
        try
        {
            await _pipeline.ExecuteAsync(static async (ctx, state) => await state(ctx.CancellationToken).ConfigureAwait(false), context, apply)
                .ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Whether an exception, or one it wraps, says the database is unreachable or busy for now.</summary>
    internal static bool IsTransient(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case SqliteException sqlite when sqlite.SqliteErrorCode is 5 or 6: // SQLITE_BUSY, SQLITE_LOCKED
                case DbException { IsTransient: true }:
                case DbException { SqlState: { } state } when IsTransientState(state):
                case TimeoutException:
                case SocketException:
                case RetryLimitExceededException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>SQLSTATE classes of a lost connection (08), an operator intervention such as a shutdown (57P), too many connections, and serialization or deadlock aborts.</summary>
    private static bool IsTransientState(string state) =>
        state.StartsWith("08", StringComparison.Ordinal) || state.StartsWith("57P", StringComparison.Ordinal) ||
        state is "53300" or "40001" or "40P01";
}
