using FirstSip.Streams;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>
/// The app side of the protocol's cancellation: <c>SET {prefix}run:{id}:cancel "&lt;reason&gt;" PX 86400000</c>, then
/// <c>PUBLISH {prefix}cancel &lt;id&gt;</c>. The key is the durable signal; the channel makes the stop prompt.
/// </summary>
internal sealed class CancelSignaler(IConnectionMultiplexer redis, IOptions<PluginStreamsOptions> streamsOptions)
{
    public const long CancelKeyTtlMilliseconds = 86_400_000;

    public string CancelKey(Guid runId) => RunKey(runId, "cancel");

    public string CancelChannel => streamsOptions.Value.KeyPrefix + "cancel";

    public string RunKey(Guid runId, string suffix) => $"{streamsOptions.Value.KeyPrefix}run:{runId:D}:{suffix}";

    public async Task SignalAsync(Guid runId, string reason)
    {
        var database = redis.GetDatabase();
        await database.ExecuteAsync("SET", (RedisKey)CancelKey(runId), reason, "PX", CancelKeyTtlMilliseconds).ConfigureAwait(false);
        await database.PublishAsync(RedisChannel.Literal(CancelChannel), runId.ToString("D")).ConfigureAwait(false);
    }
}
