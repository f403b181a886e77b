using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Wires FirstSip into the sample hosts, as an application would.</summary>
public static class SampleServiceCollectionExtensions
{
    /// <summary>
    /// Adds FirstSip (streams and run store) with the sample's own <see cref="BriefingsDbContext"/>, so a run's
    /// completion and its <see cref="Briefing"/> share one transaction.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The host's configuration (see <see cref="SampleSettings"/>).</param>
    /// <returns>The value of <paramref name="services"/>.</returns>
    public static IServiceCollection AddFirstSipSample(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = SampleSettings.From(configuration);
        services.AddSingleton(settings);

        // Streams that only grow are trimmed: acknowledged entries every minute, progress events after three days (a
        // run's timeline shows them until then), dead letters after a week. These are defaults:
        // FirstSip:Streams:TrimInterval, EventRetention and DeadLetterRetention override them.
        services.Configure<PluginStreamsOptions>(streams =>
        {
            streams.TrimInterval = TimeSpan.FromMinutes(1);
            streams.EventRetention = TimeSpan.FromDays(3);
            streams.DeadLetterRetention = TimeSpan.FromDays(7);
        });

        // Stream names, groups and reader settings can be changed under FirstSip:Streams; the server is FIRSTSIP_REDIS.
        services.AddPluginStreams(configuration.GetSection("FirstSip:Streams"));
        services.Configure<PluginStreamsOptions>(streams => streams.ConnectionString = settings.Redis);
        // One context class per provider, each with its own migrations; the rest of the app sees BriefingsDbContext.
        if (settings.UsesPostgres)
        {
            services.AddDbContext<BriefingsDbContext, NpgsqlBriefingsDbContext>(db => db.UseNpgsql(settings.Database));
        }
        else
        {
            services.AddDbContext<BriefingsDbContext, SqliteBriefingsDbContext>(db => db.UseSqlite($"Data Source={settings.Database}").AddPluginRunStoreInterceptors());
        }
        services.AddPluginRunStore<BriefingsDbContext>(runs =>
            {
                // Timeouts, retries and intervals can be changed under FirstSip:Runs.
                configuration.GetSection("FirstSip:Runs").Bind(runs);
                runs.PluginDirectory = settings.Plugins;
                runs.SealKey = settings.SealKey;
            })
            .AddCompletionHandler<BriefingCompletionHandler>();

        // Terminal runs are kept unless FirstSip:Operations:TerminalRunRetention says how long (for example "30.00:00:00").
        // The consumer sweeper's interval and idle time are under the same section.
        services.Configure<PluginOperationsOptions>(configuration.GetSection("FirstSip:Operations"));
        services.Configure<StreamOperationsOptions>(configuration.GetSection("FirstSip:Operations"));
        return services;
    }

    /// <summary>Creates or upgrades the sample's database (runs and briefings) with its migrations.</summary>
    /// <param name="services">The built service provider.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>A task that completes when the database is up to date.</returns>
    public static async Task EnsureSampleDatabaseAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        var settings = services.GetRequiredService<SampleSettings>();
        if (!settings.UsesPostgres && Path.GetDirectoryName(Path.GetFullPath(settings.Database)) is { } folder)
        {
            Directory.CreateDirectory(folder);
        }

        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BriefingsDbContext>();
        // Migrations take a lock, so several processes starting at once (a worker and a `run`) do not collide.
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Finds the briefing a run wrote, if any.</summary>
    /// <param name="services">A scope's service provider.</param>
    /// <param name="runId">The run.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The briefing, or <see langword="null"/>.</returns>
    public static Task<Briefing?> FindBriefingAsync(this IServiceProvider services, Guid runId, CancellationToken cancellationToken = default) =>
        services.GetRequiredService<BriefingsDbContext>().Briefings.AsNoTracking()
            .SingleOrDefaultAsync(b => b.RunId == runId, cancellationToken);
}
