// The .NET side of `./run bench-e2e` (benchmarks/e2e/bench_e2e.py starts Redis, PostgreSQL and the sidecar).
// Posts no-op runs through IPluginRunner as an application would and prints one JSON line of figures:
//   warm-up: rounds of W runs posted under load, as below, until a round leaves the JIT nearly idle;
//   idle: start-to-completed latency of runs posted one at a time (p50, p99);
//   load: N runs posted by C concurrent callers (each starts its share, then waits for its runs), runs/s end to end.
// Arguments: see Usage below.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FirstSip.Plugins;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

const string Usage = "usage: FirstSip.Benchmarks.EndToEnd --redis host:port --db sqlite|postgres --connection <EF connection string> "
    + "--plugins <dir> [--runs 2000] [--callers 8] [--idle 200] [--warmup 1000] [--prefix firstsip:bench:]\n"
    + "Run by benchmarks/e2e/bench_e2e.py (./run bench-e2e), which starts Redis, PostgreSQL and the sidecar.";
var help = args.Any(arg => arg is "-h" or "--help");
if (help || args.Length % 2 != 0)
{
    Console.Error.WriteLine(Usage);
    return help ? 0 : 2;
}

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2)
{
    options[args[i].TrimStart('-')] = args[i + 1];
}

if (!options.TryGetValue("plugins", out var pluginFolder) || !Directory.Exists(pluginFolder))
{
    Console.Error.WriteLine($"--plugins must name a plugin folder (one holding the no-op plugin).\n{Usage}");
    return 2;
}

string Option(string name, string fallback) => options.TryGetValue(name, out var value) ? value : fallback;
int Number(string name, int fallback) => int.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

var database = Option("db", "sqlite");
var runs = Number("runs", 2000);
var callers = Number("callers", 8);
var idleRuns = Number("idle", 200);
var warmup = Number("warmup", 1000);
var prefix = Option("prefix", "firstsip:");

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.Services.AddPluginStreams(streams =>
{
    streams.ConnectionString = Option("redis", "127.0.0.1:6379");
    streams.KeyPrefix = prefix;
});
builder.Services.AddPluginRunStore(store =>
{
    if (database == "postgres")
    {
        store.UseNpgsql(Option("connection", ""));
    }
    else
    {
        store.UseSqlite(Option("connection", "Data Source=bench.db"));
    }

    store.PluginDirectory = Option("plugins", "plugins");
});
using var host = builder.Build();
await host.Services.MigratePluginRunStoreAsync();
await host.StartAsync();

// Ctrl+C or SIGTERM stops the host; the callers stop with it instead of waiting for runs nobody will finish.
var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
try
{
    // IPluginRunner is scoped (it uses the run store's DbContext): one scope per caller, as one per web request.
    await using var idleScope = host.Services.CreateAsyncScope();
    var runner = idleScope.ServiceProvider.GetRequiredService<IPluginRunner>();

    // Where an idle run's time goes, from the row's own timestamps: start call -> dispatched -> started (the worker's
    // started event applied) -> completed (the result applied) -> the caller's WaitAsync returned.
    var stages = new Dictionary<string, List<double>>
    {
        ["start_call_ms"] = [], ["to_dispatched_ms"] = [], ["to_started_ms"] = [], ["to_completed_ms"] = [], ["to_caller_ms"] = [],
    };

    async Task<double> OneRunAsync(bool record)
    {
        var clock = Stopwatch.StartNew();
        var run = await runner.StartAsync(new StartPluginRunRequest { PluginName = "noop", UserId = "bench" }, stopping);
        var started = clock.Elapsed.TotalMilliseconds;
        var done = await runner.WaitAsync(run.RunId, stopping);
        var elapsed = clock.Elapsed.TotalMilliseconds;
        var returnedAt = DateTimeOffset.UtcNow;
        if (done.Status != PluginRunStatus.Completed)
        {
            throw new InvalidOperationException($"run {done.RunId} ended {done.Status}: {done.Error}");
        }

        if (record && done.DispatchedAt is { } dispatched && done.StartedAt is { } began && done.CompletedAt is { } completed)
        {
            stages["start_call_ms"].Add(started);
            stages["to_dispatched_ms"].Add((dispatched - done.CreatedAt).TotalMilliseconds);
            stages["to_started_ms"].Add((began - dispatched).TotalMilliseconds);
            stages["to_completed_ms"].Add((completed - began).TotalMilliseconds);
            stages["to_caller_ms"].Add((returnedAt - completed).TotalMilliseconds);
        }

        return elapsed;
    }

    // Warm-up under load, as measured below, in rounds of W runs until the JIT is quiet: tiered compilation promotes
    // the hot paths of EF Core, the Redis client and the runtime for many seconds, and a process measured before that
    // settles spends up to half its CPU compiling (a long-running application does not).
    // A round that compiles fewer methods than QuietJitMethods ends the warm-up; it stops after MaxWarmupRounds anyway.
    const int QuietJitMethods = 50, MaxWarmupRounds = 20;
    var warmupRuns = 0;
    for (var round = 0; round < MaxWarmupRounds; round++)
    {
        var compiledBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
        await LoadAsync(warmup, startLatencies: null);
        warmupRuns += warmup;
        if (System.Runtime.JitInfo.GetCompiledMethodCount() - compiledBefore < QuietJitMethods)
        {
            break;
        }
    }

    await OneRunAsync(record: false);

    var idle = new List<double>(idleRuns);
    for (var i = 0; i < idleRuns; i++)
    {
        idle.Add(await OneRunAsync(record: true));
    }

    idle.Sort();
    double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    // Under load: every caller starts its share as fast as StartAsync answers, then waits for each of its runs.
    var startLatencies = new List<double>(runs);
    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var jitBefore = System.Runtime.JitInfo.GetCompilationTime();
    var jittedBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
    var (seconds, failed) = await LoadAsync(runs, startLatencies);
    var appCpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
    var jitTime = System.Runtime.JitInfo.GetCompilationTime() - jitBefore;
    var jitted = System.Runtime.JitInfo.GetCompiledMethodCount() - jittedBefore;
    startLatencies.Sort();

    async Task<(double Seconds, int Failed)> LoadAsync(int count, List<double>? startLatencies)
    {
        var sync = new object();
        var failures = 0;
        var total = Stopwatch.StartNew();
        var callerTasks = Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            await using var scope = host.Services.CreateAsyncScope();
            var callerRunner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
            var share = count / callers + (caller < count % callers ? 1 : 0);
            var ids = new List<Guid>(share);
            for (var i = 0; i < share; i++)
            {
                var clock = Stopwatch.StartNew();
                var run = await callerRunner.StartAsync(new StartPluginRunRequest { PluginName = "noop", UserId = "bench" }, stopping);
                if (startLatencies is not null)
                {
                    lock (sync)
                    {
                        startLatencies.Add(clock.Elapsed.TotalMilliseconds);
                    }
                }

                ids.Add(run.RunId);
            }

            foreach (var id in ids)
            {
                var done = await callerRunner.WaitAsync(id, stopping);
                if (done.Status != PluginRunStatus.Completed)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToArray();
        await Task.WhenAll(callerTasks);
        return (total.Elapsed.TotalSeconds, failures);
    }

    var figures = new Dictionary<string, object>
    {
        ["db"] = database,
        ["runs"] = runs,
        ["warmup_runs"] = warmupRuns,
        ["all_runs"] = warmupRuns + 1 + idleRuns + runs,
        ["callers"] = callers,
        ["failed"] = failed,
        ["seconds"] = Math.Round(seconds, 3),
        ["runs_per_second"] = Math.Round(runs / seconds, 1),
        ["idle_runs"] = idleRuns,
        ["idle_p50_ms"] = Math.Round(Percentile(idle, 0.50), 2),
        ["idle_p99_ms"] = Math.Round(Percentile(idle, 0.99), 2),
        ["start_p50_ms"] = Math.Round(Percentile(startLatencies, 0.50), 2),
        ["start_p99_ms"] = Math.Round(Percentile(startLatencies, 0.99), 2),
        // The application's own CPU under load (callers, runner, dispatcher, readers, EF Core and the database driver; SQLite runs in process).
        ["app_cpu_ms_per_run"] = Math.Round(appCpu.TotalMilliseconds / runs, 3),
        ["jit_ms_during_load"] = Math.Round(jitTime.TotalMilliseconds, 1),
        ["methods_jitted_during_load"] = jitted,
    };
    foreach (var (name, values) in stages.Where(s => s.Value.Count > 0))
    {
        values.Sort();
        figures["idle_median_" + name] = Math.Round(Percentile(values, 0.5), 2);
    }

    Console.WriteLine(JsonSerializer.Serialize(figures));
    await host.StopAsync();
    return failed == 0 ? 0 : 1;
}
catch (OperationCanceledException) when (stopping.IsCancellationRequested)
{
    Console.Error.WriteLine("stopped before the figures were complete");
    await host.StopAsync();
    return 130;
}
