using FirstSip.Plugins;
using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Catalog;
using FirstSip.Plugins.Internal.Dispatch;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the plugin run store: runner, catalog, dispatcher, result and event consumers, reaper.</summary>
public static class PluginRunStoreServiceCollectionExtensions
{
    /// <summary>
    /// Adds the run store with the package's own database context (SQLite by default, or PostgreSQL), configured by a delegate.
    /// Also needs <c>AddPluginStreams</c> for the Redis connection. Apply the schema with <see cref="MigratePluginRunStoreAsync"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the options, e.g. <c>o =&gt; o.UseSqlite("Data Source=runs.db")</c>.</param>
    /// <returns>A builder for further registrations.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IPluginRunStoreBuilder AddPluginRunStore(this IServiceCollection services, Action<PluginRunStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddStandalone(services);
        services.Configure(configure);
        return builder;
    }

    /// <summary>Adds the run store with the package's own database context, bound to a configuration section (<c>Provider</c>, <c>ConnectionString</c>, …).</summary>
    /// <param name="services">The services.</param>
    /// <param name="section">The configuration section.</param>
    /// <returns>A builder for further registrations.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IPluginRunStoreBuilder AddPluginRunStore(this IServiceCollection services, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        var builder = AddStandalone(services);
        services.Configure<PluginRunStoreOptions>(section);
        return builder;
    }

    /// <summary>
    /// Adds the run store on the host's own <typeparamref name="TContext"/> (registered by the host, e.g. with <c>AddDbContext</c>),
    /// whose <c>OnModelCreating</c> calls <c>modelBuilder.AddPluginRuns()</c>. Runs and the host's tables then share transactions;
    /// the host's migrations create the table.
    /// </summary>
    /// <typeparam name="TContext">The host's context type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>A builder for further registrations.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    public static IPluginRunStoreBuilder AddPluginRunStore<TContext>(this IServiceCollection services)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = AddCore(services);
        services.TryAddScoped(static sp => new RunDbContextAccessor(sp.GetRequiredService<TContext>()));
        services.ConfigureDbContext<TContext>(static options => options.AddPluginRunStoreInterceptors());
        return builder;
    }

    /// <summary>Adds the run store on the host's own <typeparamref name="TContext"/>, configured by a delegate.</summary>
    /// <typeparam name="TContext">The host's context type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the options (provider and connection string are ignored).</param>
    /// <returns>A builder for further registrations.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IPluginRunStoreBuilder AddPluginRunStore<TContext>(this IServiceCollection services, Action<PluginRunStoreOptions> configure)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddPluginRunStore<TContext>();
        services.Configure(configure);
        return builder;
    }

    /// <summary>Adds the run store on the host's own <typeparamref name="TContext"/>, with options bound to a configuration section.</summary>
    /// <typeparam name="TContext">The host's context type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="section">The configuration section.</param>
    /// <returns>A builder for further registrations.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IPluginRunStoreBuilder AddPluginRunStore<TContext>(this IServiceCollection services, IConfigurationSection section)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(section);
        var builder = services.AddPluginRunStore<TContext>();
        services.Configure<PluginRunStoreOptions>(section);
        return builder;
    }

    /// <summary>Registers a completion handler (scoped). Several may be registered; they run in registration order, in the result's transaction.</summary>
    /// <typeparam name="THandler">The handler type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static IPluginRunStoreBuilder AddCompletionHandler<THandler>(this IPluginRunStoreBuilder builder)
        where THandler : class, IPluginRunCompletionHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Scoped<IPluginRunCompletionHandler, THandler>());
        return builder;
    }

    /// <summary>Registers the secrets provider (scoped), asked for each run's secrets at dispatch time; replaces an earlier one.</summary>
    /// <typeparam name="TProvider">The provider type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static IPluginRunStoreBuilder AddSecretsProvider<TProvider>(this IPluginRunStoreBuilder builder)
        where TProvider : class, IPluginSecretsProvider
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.RemoveAll<IPluginSecretsProvider>();
        builder.Services.AddScoped<IPluginSecretsProvider, TProvider>();
        return builder;
    }

    /// <summary>
    /// Configures the two stream readers the store registers (results and progress events, group <c>AppGroup</c>):
    /// concurrency, claim timeout, maximum deliveries and so on. The stream and group names come from <c>PluginStreamsOptions</c>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Applied to both readers' options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IPluginRunStoreBuilder ConfigureReaders(this IPluginRunStoreBuilder builder, Action<FirstSip.Streams.StreamReaderOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddPluginStreams()
            .AddResultHandler<RunResultHandler>(configure)
            .AddEventHandler<RunEventHandler>(configure);
        return builder;
    }

    /// <summary>
    /// Applies the run store's EF Core migrations to its database (the provider's own migrations for the standalone
    /// context; the host's migrations when the store uses the host's context). On SQLite it also turns on WAL journaling.
    /// </summary>
    /// <param name="services">The application's service provider (e.g. <c>host.Services</c>).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the schema is up to date.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    public static async Task MigratePluginRunStoreAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        var scope = services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var context = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;
            await context.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
            if (context.Database.IsSqlite())
            {
                await context.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static PluginRunStoreBuilder AddStandalone(IServiceCollection services)
    {
        var builder = AddCore(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PluginRunStoreOptions>, StandaloneStoreOptionsValidator>());
        services.TryAddSingleton<StandaloneContextFactory>();
        services.TryAddScoped<PluginRunDbContext>(static sp => sp.GetRequiredService<StandaloneContextFactory>().Create());
        services.TryAddScoped(static sp => new RunDbContextAccessor(sp.GetRequiredService<PluginRunDbContext>()));

        // Only the package's own context batches starts: a host's context may hold the caller's other changes.
        services.TryAddSingleton<RunStartBatcher>();
        return builder;
    }

    private static PluginRunStoreBuilder AddCore(IServiceCollection services)
    {
        var builder = new PluginRunStoreBuilder(services);
        if (services.Any(d => d.ServiceType == typeof(PluginRunStoreMarker)))
        {
            return builder;
        }

        services.AddSingleton<PluginRunStoreMarker>();
        services.AddOptionsWithValidateOnStart<PluginRunStoreOptions, PluginRunStoreOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PluginRunStoreOptions>, PluginRunStoreOptionsCustomValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IPluginCatalog, PluginCatalog>();
        services.TryAddSingleton<RunUpdateRelay>();
        services.TryAddSingleton<RunEventBackfill>();
        services.TryAddSingleton<RunUpdateHub>();
        services.TryAddSingleton<DispatchSignal>();
        services.TryAddSingleton<CancelSignaler>();
        services.TryAddSingleton<TransientDatabaseRetry>();
        services.TryAddSingleton<RequestQueueProbe>();
        services.TryAddSingleton(static sp => new PluginRunsMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddScoped<IPluginRunner, PluginRunner>();
        services.TryAddScoped<RunResultApplier>();
        services.TryAddSingleton<WorkerReportBatcher>();
        services.TryAddSingleton<RunDispatcher>();
        services.TryAddSingleton<RunReaper>();
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<RunDispatcher>());
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<RunReaper>());
        PluginSchedulerBuilderExtensions.AddSchedulerCore(services);
        FirstSip.Plugins.Internal.Operations.OperationsRegistration.Add(services);

        // A decodable result is never dead-lettered for the app's own failures (a database outage, a failing
        // completion handler): paid work is kept pending until it can be applied.
        services.AddPluginStreams()
            .AddResultHandler<RunResultHandler>(static o => o.DeadLetterAfterMaxDeliveries = false)
            .AddEventHandler<RunEventHandler>();
        return builder;
    }

    private sealed class PluginRunStoreMarker;

    private sealed class PluginRunStoreBuilder(IServiceCollection services) : IPluginRunStoreBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
