using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Operations;

/// <summary>
/// Every <see cref="PluginOperationsOptions.RetentionInterval"/>, deletes the terminal runs that ended more than
/// <see cref="PluginOperationsOptions.TerminalRunRetention"/> ago. Does nothing while the retention is not set.
/// </summary>
internal sealed class RunRetentionService(
    IServiceScopeFactory scopeFactory,
    IOptions<PluginOperationsOptions> options,
    TimeProvider timeProvider,
    ILogger<RunRetentionService> logger) : BackgroundService
{
    private const int BatchSize = 1000;

    /// <summary>Deletes every terminal run past the retention, in batches.</summary>
    /// <returns>How many were deleted.</returns>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        if (options.Value.TerminalRunRetention is not { } retention)
        {
            return 0;
        }

        var before = timeProvider.GetUtcNow() - retention;
        var total = 0;
        int deleted;
        do
        {
            var scope = scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                deleted = await scope.ServiceProvider.GetRequiredService<IPluginOperations>()
                    .DeleteTerminalRunsAsync(before, BatchSize, cancellationToken)
                    .ConfigureAwait(false);
            }

            total += deleted;
        }
        while (deleted == BatchSize && !cancellationToken.IsCancellationRequested);

        if (total > 0)
        {
            logger.TerminalRunsDeleted(total, before);
        }

        return total;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.TerminalRunRetention is null)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(options.Value.RetentionInterval, timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.RetentionFailed(ex);
                try
                {
                    await Task.Delay(options.Value.RetentionInterval, timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}

/// <summary>Checks the data annotations of <see cref="PluginOperationsOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class PluginOperationsOptionsValidator : IValidateOptions<PluginOperationsOptions>
{
}

/// <summary>Rules of <see cref="PluginOperationsOptions"/> that the annotations cannot express.</summary>
internal sealed class PluginOperationsOptionsCustomValidator : IValidateOptions<PluginOperationsOptions>
{
    public ValidateOptionsResult Validate(string? name, PluginOperationsOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (options.TerminalRunRetention is { } retention && retention <= TimeSpan.Zero)
        {
            builder.AddError("PluginOperationsOptions.TerminalRunRetention must be positive, or null to keep terminal runs.");
        }

        return builder.Build();
    }
}

/// <summary>The operations API and the retention job, registered by <c>AddPluginRunStore</c>.</summary>
internal static class OperationsRegistration
{
    public static void Add(IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<PluginOperationsOptions, PluginOperationsOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PluginOperationsOptions>, PluginOperationsOptionsCustomValidator>());
        services.TryAddScoped<IPluginOperations, PluginOperations>();
        services.TryAddSingleton<RunRetentionService>();
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<RunRetentionService>());
    }
}
