using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>
/// Tells whether Redis answers, and which processes are alive around it: the app side (a worker or web host reading
/// the result stream in the app group) and sidecars (reading the request stream in the workers' group). A consumer
/// counts as alive when it read within the last 30 seconds (readers block for a few seconds at a time).
/// </summary>
internal static class AppSideProbe
{
    private static readonly TimeSpan LiveWithin = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(3);

    internal sealed record Presence(int AppSide, int Workers, string ResultsStream, string RequestsStream);

    /// <summary>Waits a few seconds at most for the connection; returns the addresses tried when Redis does not answer.</summary>
    public static async Task<string?> UnreachableAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var redis = services.GetRequiredService<IConnectionMultiplexer>();
        var deadline = DateTime.UtcNow + ConnectWait;
        while (!redis.IsConnected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        return redis.IsConnected ? null : string.Join(", ", redis.GetEndPoints().Select(EndPointCollection.ToString));
    }

    public static async Task<Presence> ReadAsync(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<PluginStreamsOptions>>().Value;
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        async Task<int> LiveConsumersAsync(string stream, string group)
        {
            try
            {
                var consumers = await database.StreamConsumerInfoAsync(stream, group).ConfigureAwait(false);
                return consumers.Count(c => c.IdleTimeInMilliseconds < LiveWithin.TotalMilliseconds);
            }
            catch (RedisServerException)
            {
                // No such stream or group yet: nobody has read it.
                return 0;
            }
        }

        return new Presence(
            await LiveConsumersAsync(options.ResultsStream, options.AppGroup).ConfigureAwait(false),
            await LiveConsumersAsync(options.RequestsStream, options.WorkerGroup).ConfigureAwait(false),
            options.ResultsStream,
            options.RequestsStream);
    }
}
