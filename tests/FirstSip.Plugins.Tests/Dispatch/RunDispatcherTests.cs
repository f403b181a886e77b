using System.Diagnostics;
using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Dispatch;

[Collection(ServersCollectionDefinition.Name)]
public sealed class RunDispatcherTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RedisOutageAtStart_RunsStayPending_ThenEachIsDispatchedExactlyOnce(Db db)
    {
        await using var redis = await RedisServer.StartPrivateAsync();
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Redis = redis });
        using var dispatched = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().Dispatched);

        await redis.StopAsync();
        var connection = host.Services.GetRequiredService<IConnectionMultiplexer>();
        await Eventually.UntilAsync(() => !connection.IsConnected, TimeSpan.FromSeconds(60), "the app to notice the outage");
        var runs = new List<PluginRun>();
        for (var i = 0; i < 5; i++)
        {
            runs.Add(await host.StartRunAsync(user: i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var afterStarts = DateTimeOffset.UtcNow;
        await Eventually.UntilAsync(
            () => host.Logs.GetSnapshot().Any(r => r.Id.Id == Log.DispatchSkippedId && r.Timestamp > afterStarts),
            TimeSpan.FromSeconds(60), "a dispatch cycle while Redis is down");
        foreach (var run in runs)
        {
            Assert.Equal(PluginRunStatus.Pending, (await host.GetRequiredAsync(run.RunId)).Status);
        }

        await redis.StartAsync();
        await Eventually.UntilAsync(async () =>
        {
            foreach (var run in runs)
            {
                if ((await host.GetRequiredAsync(run.RunId)).Status != PluginRunStatus.Dispatched)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(90), "every run dispatched after Redis came back");

        // One more run, started after the outage, goes out too: the dispatcher went on past the recovery.
        var later = await host.StartRunAsync(user: "later");
        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(later.RunId)).Status == PluginRunStatus.Dispatched,
            TimeSpan.FromSeconds(60), "the later run dispatched");

        var entries = await redis.Connection.GetDatabase().StreamRangeAsync(host.RequestsStream);
        var ids = entries.Select(e => PluginRequestCodec.Instance.Decode(e.Values).Message!.PluginRunId).ToList();
        Assert.Equal(runs.Select(r => r.RunId).Append(later.RunId).Order(), ids.Order());
        Assert.Equal(6, dispatched.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Dispatch_ManyRuns_GoOutInBatches_EachOnce(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Store = o => o.DispatchBatchSize = 10,
        });
        var runs = new List<PluginRun>();
        for (var i = 0; i < 25; i++)
        {
            runs.Add(await host.StartRunAsync());
        }

        var cycles = new List<(int Claimed, int Published, int Failed)>();
        for (var i = 0; i < 4; i++)
        {
            cycles.Add(await host.Dispatcher.DispatchOnceAsync(CancellationToken.None));
        }

        Assert.Equal([10, 10, 5, 0], cycles.Select(c => c.Published));
        var requests = await host.ReadRequestsAsync(25);
        Assert.Equal(runs.Select(r => r.RunId).Order(), requests.Select(r => r.Request.PluginRunId).Order());
        var first = requests.Single(r => r.Request.PluginRunId == runs[0].RunId).Request;
        Assert.Equal("echo", first.PluginName);
        Assert.Equal("42", first.UserId);
        Assert.Equal(90, first.TimeoutSeconds);
        Assert.Null(first.Deadline);
        Assert.Null(first.QueueDeadline);
        Assert.Equal(requests.Single(r => r.Request.PluginRunId == runs[0].RunId).Id, (await host.GetRequiredAsync(runs[0].RunId)).RequestId);
        Assert.Equal("brief", first.Settings.GetProperty("summary_length").GetString());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Lifecycle_ThroughTheStreams_ContinuesTheStartTrace_AndCompletes(Db db)
    {
        var stopped = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is PluginRunsTelemetry.ActivitySourceName or PluginStreamsTelemetry.ActivitySourceName or "test-worker",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                lock (stopped)
                {
                    stopped.Add(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db });
        var metrics = host.Services.GetRequiredService<PluginRunsMetrics>();
        using var started = new MetricCollector<long>(metrics.Started);
        using var completed = new MetricCollector<long>(metrics.Completed);
        using var duration = new MetricCollector<double>(metrics.Duration);
        using var queueWait = new MetricCollector<double>(metrics.QueueWait);

        var run = await host.StartRunAsync();
        var (_, request, fields) = Assert.Single(await host.ReadRequestsAsync(1));
        var traceParent = fields.Single(f => f.Name == "traceparent").Value.ToString();
        Assert.True(ActivityContext.TryParse(traceParent, null, out var requestContext));
        Assert.Equal(run.TraceParent![3..35], requestContext.TraceId.ToHexString());

        // The worker's side: its span continues the request's trace, and its result carries it back.
        using (var worker = new ActivitySource("test-worker").StartActivity("worker run", ActivityKind.Consumer, requestContext))
        {
            await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1, At = DateTimeOffset.UtcNow });
            await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "research_task", Attempt = 1, At = DateTimeOffset.UtcNow });
            await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).LastStep == "research_task",
                TimeSpan.FromSeconds(30), "the step event applied");
            await host.PublishResultAsync(new PluginResult
            {
                PluginRunId = run.RunId,
                Status = PluginResultStatus.Completed,
                Output = """{"summary":"Three stories.","sections":[]}""",
                Attempt = request.Attempt,
            });
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var finished = await host.WithRunnerAsync(r => r.WaitAsync(run.RunId, timeout.Token));

        Assert.Equal(PluginRunStatus.Completed, finished.Status);
        Assert.Equal("""{"summary":"Three stories.","sections":[]}""", finished.Output);
        Assert.NotNull(finished.StartedAt);
        // The result's span ends when its handler returns, after the commit a watcher may already have seen.
        await Eventually.UntilAsync(() =>
        {
            lock (stopped)
            {
                return Task.FromResult(stopped.Any(a => a.DisplayName == "plugin run result"));
            }
        }, TimeSpan.FromSeconds(30), "the result's span to end");
        Activity[] spans;
        lock (stopped)
        {
            spans = [.. stopped];
        }

        var traceId = requestContext.TraceId;
        Assert.Contains(spans, a => a.DisplayName == "echo start" && a.TraceId == traceId);
        Assert.Contains(spans, a => a.DisplayName == "echo dispatch" && a.TraceId == traceId);
        Assert.Contains(spans, a => a.DisplayName == "plugin run result" && a.TraceId == traceId);

        Assert.Equal(1, started.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal("echo", started.LastMeasurement!.Tags[PluginRunsMetrics.PluginNameTag]);
        Assert.Equal(1, completed.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.True(Assert.Single(duration.GetMeasurementSnapshot()).Value >= 0);
        Assert.Single(queueWait.GetMeasurementSnapshot());
        var logs = host.Logs.GetSnapshot();
        Assert.Contains(logs, r => r.Id.Name == "RunStarted" && r.Level == Microsoft.Extensions.Logging.LogLevel.Information && r.Message.Contains(run.RunId.ToString()));
        Assert.Contains(logs, r => r.Id.Name == "ResultApplied" && r.Message.Contains("completed"));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Cancel_WhileRunning_TheWorkersCancelledResultIsIgnored(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db });
        using var duplicates = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().DuplicateResults);
        using var cancelledCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().Cancelled);
        var run = await host.StartRunAsync();
        Assert.Single(await host.ReadRequestsAsync(1));
        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, At = DateTimeOffset.UtcNow });
        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Running,
            TimeSpan.FromSeconds(30), "the run running");

        Assert.True(await host.WithRunnerAsync(r => r.CancelAsync(run.RunId, "no longer needed")));
        var key = $"{host.Prefix}run:{run.RunId:D}:cancel";
        Assert.Equal("no longer needed", (string?)await host.Redis.Connection.GetDatabase().StringGetAsync(key));
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "cancelled" });

        await Eventually.UntilAsync(() => duplicates.GetMeasurementSnapshot().EvaluateAsCounter() == 1,
            TimeSpan.FromSeconds(30), "the worker's cancelled result counted as a duplicate");
        var cancelled = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Cancelled, cancelled.Status);
        Assert.Equal("no longer needed", cancelled.Error);
        Assert.Equal(1, cancelledCount.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Restart_ResumesDispatchingRunsLeftPending(Db db)
    {
        var first = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        first.KeepDatabase = true;
        var runs = new List<PluginRun>();
        for (var i = 0; i < 3; i++)
        {
            runs.Add(await first.StartRunAsync());
        }

        await first.DisposeAsync();
        await using var restarted = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, SameStoreAs = first });

        var requests = await restarted.ReadRequestsAsync(3);
        Assert.Equal(runs.Select(r => r.RunId).Order(), requests.Select(r => r.Request.PluginRunId).Order());
        foreach (var run in runs)
        {
            await Eventually.UntilAsync(async () => (await restarted.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Dispatched,
                TimeSpan.FromSeconds(30), "the run marked dispatched");
        }
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PoisonResult_DeadLetteredByTheReader_FailsItsRunWithTheReason(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db });
        var run = await host.StartRunAsync();
        Assert.Single(await host.ReadRequestsAsync(1));

        var payload = $$"""{"plugin_run_id":"{{run.RunId:D}}","status":"weird","output":null,"error":null}""";
        await host.Redis.Connection.GetDatabase().StreamAddAsync(host.ResultsStream, [new NameValueEntry("payload", payload), new NameValueEntry("schema_version", "v1")]);

        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Failed,
            TimeSpan.FromSeconds(60), "the run failed by the dead-lettered result");
        Assert.Contains("unknown status weird", (await host.GetRequiredAsync(run.RunId)).Error);
        await Eventually.UntilAsync(async () => (await host.RangeAsync(host.ResultsStream + ":dead")).Length == 1,
            TimeSpan.FromSeconds(30), "the dead-letter entry");
    }
}
