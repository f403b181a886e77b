using FirstSip.Streams;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>Reads the request stream's backlog for the workers' group (XLEN and XINFO GROUPS), without throwing.</summary>
internal sealed class RequestQueueProbe(IConnectionMultiplexer redis, IOptions<PluginStreamsOptions> streamsOptions)
{
    public async Task<(PluginStreamBacklog? Backlog, string? Error)> ReadAsync()
    {
        var options = streamsOptions.Value;
        if (!redis.IsConnected)
        {
            return (null, "Redis is not connected");
        }

        try
        {
            var database = redis.GetDatabase();
            var key = (RedisKey)options.RequestsStream;
            var length = await database.StreamLengthAsync(key).ConfigureAwait(false);
            var groups = length == 0 && !await database.KeyExistsAsync(key).ConfigureAwait(false)
                ? []
                : await database.StreamGroupInfoAsync(key).ConfigureAwait(false);
            var group = groups.FirstOrDefault(g => g.Name == options.WorkerGroup);
            return (new PluginStreamBacklog
            {
                StreamName = options.RequestsStream,
                GroupName = options.WorkerGroup,
                Length = length,
                Undelivered = group.Name is null ? null : group.Lag,
                Delivered = group.Name is null ? 0 : group.PendingMessageCount,
                Consumers = group.Name is null ? 0 : group.ConsumerCount,
            }, null);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return (null, ex.Message);
        }
    }
}
