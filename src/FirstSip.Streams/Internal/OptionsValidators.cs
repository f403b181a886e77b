using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Checks the data annotations of <see cref="PluginStreamsOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class PluginStreamsOptionsValidator : IValidateOptions<PluginStreamsOptions>
{
}

/// <summary>Rules of <see cref="PluginStreamsOptions"/> that the annotations cannot express.</summary>
internal sealed class PluginStreamsOptionsCustomValidator : IValidateOptions<PluginStreamsOptions>
{
    public const string MissingConnectionMessage =
        "PluginStreamsOptions: set ConnectionString (a StackExchange.Redis configuration string such as \"localhost:6379\" or a URL such as \"redis://localhost:6379/0\") or Configuration, or register an IConnectionMultiplexer in the container.";

    private readonly PluginStreamsMarker _marker;

    public PluginStreamsOptionsCustomValidator(PluginStreamsMarker marker) => _marker = marker;

    public ValidateOptionsResult Validate(string? name, PluginStreamsOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (options.Configuration is null && string.IsNullOrWhiteSpace(options.ConnectionString) && !_marker.HostSuppliesConnection())
        {
            builder.AddError(MissingConnectionMessage);
        }

        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            try
            {
                _ = RedisConnectionString.Parse(options.ConnectionString);
            }
            catch (ArgumentException ex)
            {
                builder.AddError($"PluginStreamsOptions.ConnectionString is neither a valid StackExchange.Redis configuration nor a Redis URL: {ex.Message}");
            }
        }

        if (options.TrimInterval is { } trim && trim <= TimeSpan.Zero)
        {
            builder.AddError("PluginStreamsOptions.TrimInterval must be positive, or null to turn the trimmer off.");
        }

        if (options.DeadLetterRetention is { } retention && retention < TimeSpan.Zero)
        {
            builder.AddError("PluginStreamsOptions.DeadLetterRetention must not be negative, or null to keep dead letters.");
        }

        if (options.EventRetention is { } events && events <= TimeSpan.Zero)
        {
            builder.AddError("PluginStreamsOptions.EventRetention must be positive, or null to trim events only once acknowledged.");
        }

        return builder.Build();
    }
}

/// <summary>Checks the data annotations of <see cref="StreamReaderOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class StreamReaderOptionsValidator : IValidateOptions<StreamReaderOptions>
{
}

/// <summary>Rules of <see cref="StreamReaderOptions"/> that span several fields.</summary>
internal sealed class StreamReaderOptionsCustomValidator : IValidateOptions<StreamReaderOptions>
{
    public ValidateOptionsResult Validate(string? name, StreamReaderOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        var prefix = $"StreamReaderOptions '{name}'";
        if (options.RenewInterval >= options.ClaimTimeout)
        {
            builder.AddError($"{prefix}: RenewInterval ({options.RenewInterval}) must be less than ClaimTimeout ({options.ClaimTimeout}), or other consumers steal entries that are still being handled.");
        }

        Positive(builder, prefix, nameof(options.ClaimTimeout), options.ClaimTimeout);
        Positive(builder, prefix, nameof(options.ClaimInterval), options.ClaimInterval);
        Positive(builder, prefix, nameof(options.RenewInterval), options.RenewInterval);
        Positive(builder, prefix, nameof(options.BlockTime), options.BlockTime);
        Positive(builder, prefix, nameof(options.PollInterval), options.PollInterval);
        Positive(builder, prefix, nameof(options.StalledAfter), options.StalledAfter);
        if (options.ShutdownGracePeriod < TimeSpan.Zero)
        {
            builder.AddError($"{prefix}: ShutdownGracePeriod must not be negative.");
        }

        if (options.StalledAfter > TimeSpan.Zero && options.StalledAfter <= options.BlockTime)
        {
            builder.AddError($"{prefix}: StalledAfter ({options.StalledAfter}) must be longer than BlockTime ({options.BlockTime}), or an idle reader looks stalled.");
        }

        if (options.DeadLetterStream is not null && options.DeadLetterStream == options.StreamName)
        {
            builder.AddError($"{prefix}: DeadLetterStream must differ from StreamName.");
        }

        if (!Enum.IsDefined(options.ReadMode))
        {
            builder.AddError($"{prefix}: ReadMode {options.ReadMode} is not a StreamReadMode.");
        }

        return builder.Build();
    }

    private static void Positive(ValidateOptionsResultBuilder builder, string prefix, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            builder.AddError($"{prefix}: {name} must be positive (was {value}).");
        }
    }
}

/// <summary>
/// One per service collection: marks AddPluginStreams as done, remembers the readers already added, and tells
/// whether the host registered its own <see cref="IConnectionMultiplexer"/>.
/// </summary>
internal sealed class PluginStreamsMarker
{
    private readonly IServiceCollection _services;

    public PluginStreamsMarker(IServiceCollection services) => _services = services;

    public HashSet<string> ReaderNames { get; } = new(StringComparer.Ordinal);

    public HashSet<string> PublisherStreams { get; } = new(StringComparer.Ordinal);

    public bool HostSuppliesConnection()
    {
        ServiceDescriptor? last = null;
        foreach (var descriptor in _services)
        {
            if (descriptor.ServiceType == typeof(IConnectionMultiplexer) && !descriptor.IsKeyedService)
            {
                last = descriptor;
            }
        }

        return last is not null && !ReferenceEquals(last.ImplementationFactory, StreamsConnections.SharedFactory);
    }
}
