using System.Diagnostics;
using System.Globalization;
using FirstSip.Plugins;
using FirstSip.Plugins.Internal.Schedules;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>
/// The scheduler's cost per occurrence: with N schedules of which D are due in one tick, the time until the D runs are
/// pending (claims, outbox inserts and last-run updates, a transaction per batch), against inserting D runs directly
/// with <see cref="IPluginRunner.StartAsync"/> one at a time (the baseline), and against writing the same runs in batches
/// with nothing to claim (the floor), in the same process on the same kind of database. Usage:
/// <c>dotnet run -c Release --project benchmarks/FirstSip.Benchmarks -- schedules [total] [due]</c>; with
/// <c>FIRSTSIP_BENCH_PG</c> set to a connection string of a database server (each measure creates a database), PostgreSQL
/// is measured too. <c>FIRSTSIP_BENCH_DIR</c> is the folder of the SQLite files (default: the temp folder).
/// </summary>
internal static class ScheduleBenchmark
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 7, 0, 1, TimeSpan.Zero);

    public static async Task<int> RunAsync(string[] args)
    {
        var total = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var due = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
        var plugins = Path.Combine(Path.GetTempPath(), "firstsip-bench-plugins-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(plugins, "bench"));
        File.WriteAllText(Path.Combine(plugins, "bench", "plugin.yaml"), "schema_version: 1\nname: bench\nruntime: crewai\n");
        Console.WriteLine($"Scheduler benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.MachineName}, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine($"{total:N0} schedules, {due:N0} due in one tick");
        Console.WriteLine();
        Console.WriteLine("| database | baseline: StartAsync one run at a time | batched inserts of the same runs | scheduler tick | tick / baseline | tick / batched |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        try
        {
            var folder = Environment.GetEnvironmentVariable("FIRSTSIP_BENCH_DIR") is { Length: > 0 } dir ? dir : Path.GetTempPath();
            await MeasureAsync($"SQLite (file in {folder}, WAL)", plugins, () => $"Data Source={Path.Combine(folder, $"firstsip-bench-{Guid.NewGuid():N}.db")}", false, total, due);
            if (Environment.GetEnvironmentVariable("FIRSTSIP_BENCH_PG") is { Length: > 0 } server)
            {
                await MeasureAsync("PostgreSQL", plugins, () => NewPostgresDatabase(server), true, total, due);
            }
        }
        finally
        {
            Directory.Delete(plugins, recursive: true);
        }

        return 0;
    }

    private static async Task MeasureAsync(string name, string plugins, Func<string> newDatabase, bool postgres, int total, int due)
    {
        // The baseline: the same number of runs, each inserted through the outbox by the runner.
        TimeSpan baseline;
        using (var host = await HostAsync(plugins, newDatabase(), postgres))
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < due; i += 100)
            {
                await using var scope = host.Services.CreateAsyncScope();
                var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
                for (var j = i; j < Math.Min(due, i + 100); j++)
                {
                    await runner.StartAsync(new StartPluginRunRequest { PluginName = "bench", UserId = j.ToString(CultureInfo.InvariantCulture) });
                }
            }

            baseline = watch.Elapsed;
            await CountPendingAsync(host, due);
        }

        // The floor: the same runs, validated and built by the runner, written in batches as the scheduler writes them
        // (one transaction and one save per BatchSize), with no schedule to read or claim.
        TimeSpan batched;
        using (var host = await HostAsync(plugins, newDatabase(), postgres))
        {
            var batchSize = new PluginSchedulerOptions().BatchSize;
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < due; i += batchSize)
            {
                await using var scope = host.Services.CreateAsyncScope();
                var runner = (FirstSip.Plugins.Internal.Runs.PluginRunner)scope.ServiceProvider.GetRequiredService<IPluginRunner>();
                var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
                await using var transaction = await db.Context.Database.BeginTransactionAsync();
                var runs = Enumerable.Range(i, Math.Min(batchSize, due - i))
                    .Select(j => runner.Prepare(new StartPluginRunRequest { PluginName = "bench", UserId = j.ToString(CultureInfo.InvariantCulture) }, Now))
                    .ToList();
                db.Runs.AddRange(runs);
                await db.Context.SaveChangesAsync();
                await transaction.CommitAsync();
                foreach (var run in runs)
                {
                    runner.Announce(run, Now);
                }
            }

            batched = watch.Elapsed;
            await CountPendingAsync(host, due);
        }

        TimeSpan tick;
        using (var host = await HostAsync(plugins, newDatabase(), postgres))
        {
            await SeedAsync(host, total, due);
            var firer = host.Services.GetRequiredService<ScheduleFirer>();
            var watch = Stopwatch.StartNew();
            var started = await firer.FireDueOnceAsync(CancellationToken.None);
            tick = watch.Elapsed;
            if (started != due)
            {
                throw new InvalidOperationException($"the tick started {started} runs, not {due}");
            }

            await CountPendingAsync(host, due);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {Rate(baseline, due)} | {Rate(batched, due)} | {Rate(tick, due)} | {tick / baseline:F2}x | {tick / batched:F2}x |"));
    }

    private static string Rate(TimeSpan elapsed, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"{elapsed.TotalSeconds:F2} s ({count / elapsed.TotalSeconds:N0} runs/s)");

    /// <summary>Writes the schedules directly: the due ones every minute and due a second ago, the others not due for an hour.</summary>
    private static async Task SeedAsync(IHost host, int total, int due)
    {
        for (var i = 0; i < total; i += 5000)
        {
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
            for (var j = i; j < Math.Min(total, i + 5000); j++)
            {
                var isDue = j % (total / due) == 0;
                db.Schedules.Add(new PluginSchedule
                {
                    ScheduleId = Guid.CreateVersion7(),
                    UserId = j.ToString(CultureInfo.InvariantCulture),
                    PluginName = "bench",
                    Settings = "{}",
                    CronExpression = isDue ? "* * * * *" : "0 8 * * *",
                    TimeZone = "UTC",
                    NextFireAt = isDue ? Now.AddSeconds(-1) : Now.AddHours(1).AddSeconds(-1),
                    CreatedAt = Now,
                    UpdatedAt = Now,
                    Version = 1,
                });
            }

            await db.Context.SaveChangesAsync();
        }
    }

    private static async Task CountPendingAsync(IHost host, int expected)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var pending = await scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Runs.CountAsync(r => r.Status == PluginRunStatus.Pending);
        if (pending != expected)
        {
            throw new InvalidOperationException($"{pending} runs are pending, not {expected}");
        }
    }

    private static async Task<IHost> HostAsync(string plugins, string connectionString, bool postgres)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<TimeProvider>(new FixedTime(Now));
        // A real Redis (FIRSTSIP_REDIS, default localhost:6379), as the runner publishes status updates there; the host is not
        // started, so nothing is dispatched and every run stays pending.
        builder.Services.AddPluginStreams(o => o.ConnectionString = Environment.GetEnvironmentVariable("FIRSTSIP_REDIS") is { Length: > 0 } redis ? redis : "localhost:6379");
        builder.Services.AddPluginRunStore(o =>
        {
            o.PluginDirectory = plugins;
            if (postgres)
            {
                o.UseNpgsql(connectionString);
            }
            else
            {
                o.UseSqlite(connectionString);
            }
        });
        var host = builder.Build();
        await host.Services.MigratePluginRunStoreAsync();
        return host;
    }

    private static string NewPostgresDatabase(string server)
    {
        var name = "firstsip_bench_" + Guid.NewGuid().ToString("N")[..12];
        using (var connection = new Npgsql.NpgsqlConnection(server))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"CREATE DATABASE {name}";
            command.ExecuteNonQuery();
        }

        return new Npgsql.NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>A clock that stands still: every schedule is due, or not, at the same instant.</summary>
    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
