using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>
/// Tells the workers that runs are terminal in the app, the protocol's stop signal:
/// <c>SET {prefix}run:{id}:cancel "&lt;reason&gt;" PX 86400000</c>, then <c>PUBLISH {prefix}cancel &lt;id&gt;</c>. The key is the
/// durable signal (a worker checks it before it starts a run and while it executes one); the channel makes the stop prompt.
/// </summary>
/// <remarks>
/// Every transition that ends a run on the app's side sets <see cref="PluginRun.StopSignalPending"/> in the same update.
/// The flag is cleared once Redis has taken the signal, and the reaper sends the signals still owed, so none is lost to a
/// Redis outage or an app restart.
/// </remarks>
internal sealed class CancelSignaler(IConnectionMultiplexer redis, IOptions<PluginStreamsOptions> streamsOptions, ILogger<CancelSignaler> logger)
{
    public const long CancelKeyTtlMilliseconds = 86_400_000;
    private const int BatchSize = 500;

    public string CancelKey(Guid runId) => RunKey(runId, "cancel");

    public string CancelChannel => streamsOptions.Value.KeyPrefix + "cancel";

    public string RunKey(Guid runId, string suffix) => $"{streamsOptions.Value.KeyPrefix}run:{runId:D}:{suffix}";

    public async Task SignalAsync(Guid runId, string reason)
    {
        var database = redis.GetDatabase();
        await database.ExecuteAsync("SET", (RedisKey)CancelKey(runId), reason, "PX", CancelKeyTtlMilliseconds).ConfigureAwait(false);
        await database.PublishAsync(RedisChannel.Literal(CancelChannel), runId.ToString("D")).ConfigureAwait(false);
    }

    /// <summary>Signals one run whose transition owes a stop signal, and clears the debt once Redis took it.</summary>
    /// <returns>Whether the signal was sent; when not, the reaper sends it later.</returns>
    public async Task<bool> SendAsync(RunDbContextAccessor db, Guid runId, string reason, CancellationToken cancellationToken)
    {
        var sent = await SignalManyAsync([(runId, reason)]).ConfigureAwait(false);
        if (sent.Count == 0)
        {
            return false;
        }

        await ClearAsync(db, sent, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Sends the stop signals still owed to the workers (terminal runs with <see cref="PluginRun.StopSignalPending"/>).</summary>
    /// <returns>How many were sent.</returns>
    public async Task<int> SendOwedAsync(RunDbContextAccessor db, CancellationToken cancellationToken)
    {
        if (!redis.IsConnected)
        {
            return 0;
        }

        var owed = await db.Runs.AsNoTracking()
            .Where(r => r.StopSignalPending)
            .OrderBy(r => r.RunId)
            .Select(r => new { r.RunId, r.Status, r.Error })
            .Take(BatchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        var terminal = owed.Where(r => r.Status.IsTerminal()).Select(r => (r.RunId, r.Error ?? r.Status.ToWireString())).ToList();
        if (terminal.Count == 0)
        {
            return 0;
        }

        var sent = await SignalManyAsync(terminal).ConfigureAwait(false);
        if (sent.Count > 0)
        {
            await ClearAsync(db, sent, cancellationToken).ConfigureAwait(false);
        }

        return sent.Count;
    }

    private async Task<List<Guid>> SignalManyAsync(List<(Guid RunId, string Reason)> runs)
    {
        var sends = new List<(Guid RunId, Task Send)>(runs.Count);
        foreach (var (runId, reason) in runs)
        {
            sends.Add((runId, SignalAsync(runId, reason)));
        }

        var sent = new List<Guid>(runs.Count);
        Exception? failure = null;
        foreach (var (runId, send) in sends)
        {
            try
            {
                await send.ConfigureAwait(false);
                sent.Add(runId);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                failure ??= ex;
            }
        }

        if (failure is not null)
        {
            logger.StopSignalFailed(failure, runs.Count - sent.Count);
        }

        return sent;
    }

    private static Task<int> ClearAsync(RunDbContextAccessor db, List<Guid> runIds, CancellationToken cancellationToken) =>
        db.Runs
            .Where(r => runIds.Contains(r.RunId) && r.StopSignalPending)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.StopSignalPending, false), cancellationToken);
}
