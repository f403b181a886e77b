using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Creates the shared multiplexer and the dedicated connections blocking readers use.</summary>
internal static class StreamsConnections
{
    /// <summary>The factory registered for <see cref="IConnectionMultiplexer"/>; compared by reference to tell it from a host's own registration.</summary>
    public static readonly Func<IServiceProvider, IConnectionMultiplexer> SharedFactory = CreateShared;

    private static readonly HashSet<string> BlockingExcludedCommands = new(StringComparer.OrdinalIgnoreCase)
    {
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
    };

    private static IConnectionMultiplexer CreateShared(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<PluginStreamsOptions>>().Value;
        var configuration = BuildConfiguration(options, null)
            ?? throw new OptionsValidationException(
                Options.DefaultName,
                typeof(PluginStreamsOptions),
                [PluginStreamsOptionsCustomValidator.MissingConnectionMessage]);
        return ConnectionMultiplexer.Connect(configuration);
    }

    /// <summary>
    /// Builds a configuration from the options, or from the shared multiplexer's configuration when the host supplied it.
    /// Returns null when there is nothing to build from.
    /// </summary>
    public static ConfigurationOptions? BuildConfiguration(PluginStreamsOptions options, IConnectionMultiplexer? shared)
    {
        ConfigurationOptions? configuration = null;
        if (options.Configuration is not null)
        {
            configuration = options.Configuration.Clone();
        }
        else if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            configuration = RedisConnectionString.Parse(options.ConnectionString);
        }
        else if (shared is not null)
        {
            configuration = ConfigurationOptions.Parse(shared.Configuration);
        }

        if (configuration is not null)
        {
            configuration.AbortOnConnectFail = false;
        }

        return configuration;
    }

    /// <summary>
    /// A connection that carries only one reader's blocking XREADGROUP: no pub/sub socket, and an async timeout
    /// at least twice the block time.
    /// </summary>
    public static async Task<ConnectionMultiplexer> ConnectBlockingAsync(PluginStreamsOptions options, IConnectionMultiplexer shared, string clientName, TimeSpan blockTime)
    {
        var configuration = BuildConfiguration(options, shared) ?? ConfigurationOptions.Parse(shared.Configuration);
        configuration.CommandMap = CommandMap.Create(BlockingExcludedCommands, available: false);
        configuration.ClientName = clientName;
        var minimumTimeout = (int)Math.Min(int.MaxValue, (blockTime.TotalMilliseconds * 2) + 1000);
        configuration.AsyncTimeout = Math.Max(configuration.AsyncTimeout, minimumTimeout);
        configuration.SyncTimeout = Math.Max(configuration.SyncTimeout, minimumTimeout);
        return await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
    }
}
