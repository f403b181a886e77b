using FirstSip.Plugins.Internal.Secrets;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal;

/// <summary>Checks the data annotations of <see cref="PluginRunStoreOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class PluginRunStoreOptionsValidator : IValidateOptions<PluginRunStoreOptions>
{
}

/// <summary>Rules of <see cref="PluginRunStoreOptions"/> that span fields or need parsing.</summary>
internal sealed class PluginRunStoreOptionsCustomValidator : IValidateOptions<PluginRunStoreOptions>
{
    public const string BadSealKeyMessage =
        "PluginRunStoreOptions.SealKey must be the base64 text of exactly 32 bytes (the sidecar's FIRSTSIP_SEAL_KEY).";

    public ValidateOptionsResult Validate(string? name, PluginRunStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = new ValidateOptionsResultBuilder();
        if (options.SealKey is not null && SecretSealer.ParseKey(options.SealKey) is null)
        {
            builder.AddError(BadSealKeyMessage, nameof(PluginRunStoreOptions.SealKey));
        }

        if (options.RetryMaxDelay < options.RetryBaseDelay)
        {
            builder.AddError("PluginRunStoreOptions.RetryMaxDelay must not be shorter than RetryBaseDelay.", nameof(PluginRunStoreOptions.RetryMaxDelay));
        }

        if (options.DefaultQueueTimeout is { } queueTimeout && queueTimeout < TimeSpan.FromSeconds(1))
        {
            builder.AddError("PluginRunStoreOptions.DefaultQueueTimeout must be at least one second, or null for none.", nameof(PluginRunStoreOptions.DefaultQueueTimeout));
        }

        if (options.DefaultDeadline is { } deadline && deadline < TimeSpan.FromSeconds(1))
        {
            builder.AddError("PluginRunStoreOptions.DefaultDeadline must be at least one second, or null for none.", nameof(PluginRunStoreOptions.DefaultDeadline));
        }

        return builder.Build();
    }
}

/// <summary>Rules that apply only to the standalone context (the package's own database).</summary>
internal sealed class StandaloneStoreOptionsValidator : IValidateOptions<PluginRunStoreOptions>
{
    public const string MissingConnectionMessage =
        "PluginRunStoreOptions.ConnectionString is required for the package's own database: call options.UseSqlite(...) or options.UseNpgsql(...), " +
        "or set Provider and ConnectionString in configuration.";

    public ValidateOptionsResult Validate(string? name, PluginRunStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return string.IsNullOrWhiteSpace(options.ConnectionString)
            ? ValidateOptionsResult.Fail(MissingConnectionMessage)
            : ValidateOptionsResult.Success;
    }
}
