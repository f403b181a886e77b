using System.Text.Json;
using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Runs;

[Collection(ServersCollectionDefinition.Name)]
public sealed class RunResultTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    public static TheoryData<Db, string> ResultVectors()
    {
        var data = new TheoryData<Db, string>();
        foreach (var db in new[] { Db.Sqlite, Db.Postgres })
        {
            foreach (var name in LoadVectors().Select(c => c.GetProperty("name").GetString()!))
            {
                data.Add(db, name);
            }
        }

        return data;
    }

    private static List<JsonElement> LoadVectors()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.ProtocolVectors, "results.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToList();
    }

    private Task<TestHost> HostAsync(Db db, FakeTimeProvider? time = null, Action<TestHostOptions>? configure = null)
    {
        var options = new TestHostOptions { Db = db, Start = false, Time = time };
        configure?.Invoke(options);
        return TestHost.CreateAsync(servers, _plugins, options);
    }

    private static PluginRun DispatchedRun(Guid runId, DateTimeOffset now, PluginRunStatus status = PluginRunStatus.Dispatched) => new()
    {
        RunId = runId,
        PluginName = "echo",
        UserId = "1",
        Status = status,
        Settings = """{"topics":["ai"]}""",
        Attempt = 1,
        MaxAttempts = 3,
        CreatedAt = now,
        DispatchedAt = now,
        Deadline = now.AddMinutes(5),
        TimeoutSeconds = 300,
        Version = 2,
    };

    [Theory]
    [MemberData(nameof(ResultVectors))]
    public async Task ResultVector_AppliedToARealRun_EndsAsTheVectorSays(Db db, string name)
    {
        var vector = LoadVectors().Single(c => c.GetProperty("name").GetString() == name);
        var fields = vector.GetProperty("fields").EnumerateObject().Select(p => new NameValueEntry(p.Name, p.Value.GetString())).ToArray();
        await using var host = await HostAsync(db);
        using var orphans = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().OrphanResults);
        using var failedCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().Failed);
        var runId = Guid.Parse("3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40");
        await host.InsertRunAsync(DispatchedRun(runId, DateTimeOffset.UtcNow, PluginRunStatus.Running));

        var decoded = PluginResultCodec.Instance.Decode(fields);

        if (vector.TryGetProperty("poison", out var poison))
        {
            Assert.True(decoded.IsPoison);
            Assert.Equal(poison.GetString(), decoded.PoisonReason);
            await host.HandleResultDeadLetterAsync(new DeadLetteredEntry
            {
                StreamName = host.ResultsStream,
                GroupName = "app-workers",
                EntryId = "1-1",
                Reason = decoded.PoisonReason!,
                Key = decoded.Key,
            });
            var afterPoison = await host.GetRequiredAsync(runId);
            if (vector.TryGetProperty("run_id", out _))
            {
                Assert.Equal(PluginRunStatus.Failed, afterPoison.Status);
                Assert.Contains(poison.GetString()!, afterPoison.Error);
            }
            else
            {
                Assert.Equal(PluginRunStatus.Running, afterPoison.Status);
            }

            return;
        }

        Assert.False(decoded.IsPoison, decoded.PoisonReason);
        var outcome = await host.ApplyAsync(decoded.Message!);
        var run = await host.GetRequiredAsync(runId);

        if (vector.TryGetProperty("orphan", out _))
        {
            Assert.Equal(ResultOutcome.Orphan, outcome);
            Assert.Equal(PluginRunStatus.Running, run.Status);
            Assert.Equal(1, orphans.GetMeasurementSnapshot().EvaluateAsCounter());
            Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Name == "ResultOrphan" && r.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
            return;
        }

        Assert.Equal(ResultOutcome.Applied, outcome);
        Assert.Equal(vector.GetProperty("run_after").GetString(), run.Status.ToWireString());
        Assert.NotNull(run.CompletedAt);
        if (vector.TryGetProperty("run_error", out var runError))
        {
            Assert.Contains(runError.GetString()!, run.Error);
        }

        if (run.Status == PluginRunStatus.Completed)
        {
            Assert.Equal(decoded.Message!.Output, run.Output);
            Assert.Null(run.Error);
        }
        else
        {
            Assert.Null(run.Output);
            Assert.False(string.IsNullOrEmpty(run.Error));
            Assert.Equal(1, failedCount.GetMeasurementSnapshot().EvaluateAsCounter());
        }

        Assert.Equal(ResultOutcome.Duplicate, await host.ApplyAsync(decoded.Message!));
        Assert.Equal(run.Version, (await host.GetRequiredAsync(runId)).Version);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ApplyAsync_EightConcurrentAppliersOfOneResult_ExactlyOneWins(Db db)
    {
        var handlerCalls = 0;
        await using var host = await HostAsync(db, configure: o =>
        {
            o.Builder = b => b.AddCompletionHandler<CountingCompletionHandler>();
            o.Services = s => s.AddSingleton(new CountingCompletionHandler.Counter(() => Interlocked.Increment(ref handlerCalls)));
        });
        using var duplicates = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().DuplicateResults);
        var runId = Guid.NewGuid();
        await host.InsertRunAsync(DispatchedRun(runId, DateTimeOffset.UtcNow, PluginRunStatus.Running));
        var result = new PluginResult { PluginRunId = runId, Status = PluginResultStatus.Completed, Output = """{"summary":"s","sections":[]}""" };
        using var go = new ManualResetEventSlim();

        var appliers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            go.Wait();
            return await host.ApplyAsync(result);
        })).ToArray();
        go.Set();
        var outcomes = await Task.WhenAll(appliers);

        Assert.Single(outcomes, o => o == ResultOutcome.Applied);
        Assert.Equal(7, outcomes.Count(o => o == ResultOutcome.Duplicate));
        Assert.Equal(1, handlerCalls);
        Assert.Equal(7, duplicates.GetMeasurementSnapshot().EvaluateAsCounter());
        var run = await host.GetRequiredAsync(runId);
        Assert.Equal(PluginRunStatus.Completed, run.Status);
        Assert.Equal(3, run.Version);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ApplyAsync_CompletionHandlerWrite_CommitsOrRollsBackWithTheStatusChange(Db db)
    {
        await using var host = await HostAsync(db, configure: o =>
        {
            o.HostContext = true;
            o.Builder = b => b.AddCompletionHandler<BriefingCompletionHandler>();
            o.Services = s => s.AddSingleton(new BriefingCompletionHandler.Switch { FailAfterWrite = true });
        });
        var runId = Guid.NewGuid();
        await host.InsertRunAsync(DispatchedRun(runId, DateTimeOffset.UtcNow));
        var result = new PluginResult { PluginRunId = runId, Status = PluginResultStatus.Completed, Output = """{"summary":"Markets rose.","sections":[]}""" };

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => host.ApplyAsync(result));
        Assert.Equal("handler failed after its write", failure.Message);
        Assert.Equal(PluginRunStatus.Dispatched, (await host.GetRequiredAsync(runId)).Status);
        Assert.Equal(0, await host.InScopeAsync(sp => Task.FromResult(sp.GetRequiredService<TestHostDbContext>().Briefings.Count())));

        host.Services.GetRequiredService<BriefingCompletionHandler.Switch>().FailAfterWrite = false;
        Assert.Equal(ResultOutcome.Applied, await host.ApplyAsync(result));

        var run = await host.GetRequiredAsync(runId);
        Assert.Equal(PluginRunStatus.Completed, run.Status);
        var briefing = await host.InScopeAsync(sp => Task.FromResult(sp.GetRequiredService<TestHostDbContext>().Briefings.Single()));
        Assert.Equal(runId, briefing.RunId);
        Assert.Equal("Markets rose.", briefing.Summary);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RetryableFailure_IsDispatchedAgainWithExponentialBackoff_UntilMaxAttempts(Db db)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync(maxAttempts: 3);

        Assert.Equal(1, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Published);
        var first = Assert.Single(await host.ReadRequestsAsync(1));
        Assert.Equal(1, first.Request.Attempt);

        var retry = new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "rate limited", Retryable = true, Attempt = 1 };
        Assert.Equal(ResultOutcome.RetryScheduled, await host.ApplyAsync(retry));
        var waiting = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Pending, waiting.Status);
        Assert.Equal(2, waiting.Attempt);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(5), waiting.NextAttemptAt);
        Assert.Equal("rate limited", waiting.Error);

        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(0, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Claimed);
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(1, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Published);
        Assert.Equal(2, Assert.Single(await host.ReadRequestsAsync(1)).Request.Attempt);

        Assert.Equal(ResultOutcome.RetryScheduled, await host.ApplyAsync(retry with { Attempt = 2 }));
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(10), (await host.GetRequiredAsync(run.RunId)).NextAttemptAt);
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Claimed);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Published);
        Assert.Equal(3, Assert.Single(await host.ReadRequestsAsync(1)).Request.Attempt);

        Assert.Equal(ResultOutcome.Applied, await host.ApplyAsync(retry with { Attempt = 3, Error = "still rate limited" }));
        var failed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Failed, failed.Status);
        Assert.Equal("still rate limited", failed.Error);
        Assert.Equal(3, failed.Attempt);
    }

    [Fact]
    public void RetryDelay_DoublesFromTheBase_UpToTheCap()
    {
        var options = new PluginRunStoreOptions { RetryBaseDelay = TimeSpan.FromSeconds(5), RetryMaxDelay = TimeSpan.FromSeconds(30) };

        Assert.Equal(TimeSpan.FromSeconds(5), RunResultApplier.RetryDelay(options, 1));
        Assert.Equal(TimeSpan.FromSeconds(10), RunResultApplier.RetryDelay(options, 2));
        Assert.Equal(TimeSpan.FromSeconds(20), RunResultApplier.RetryDelay(options, 3));
        Assert.Equal(TimeSpan.FromSeconds(30), RunResultApplier.RetryDelay(options, 4));
        Assert.Equal(TimeSpan.FromSeconds(30), RunResultApplier.RetryDelay(options, 60));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StaleFailureOfAnEarlierAttempt_IsIgnored(Db db)
    {
        await using var host = await HostAsync(db);
        var runId = Guid.NewGuid();
        var run = DispatchedRun(runId, DateTimeOffset.UtcNow);
        run.Attempt = 2;
        await host.InsertRunAsync(run);

        var outcome = await host.ApplyAsync(new PluginResult { PluginRunId = runId, Status = PluginResultStatus.Failed, Error = "old", Attempt = 1 });

        Assert.Equal(ResultOutcome.Duplicate, outcome);
        Assert.Equal(PluginRunStatus.Dispatched, (await host.GetRequiredAsync(runId)).Status);
    }
}

/// <summary>Counts its calls (for the concurrency test).</summary>
internal sealed class CountingCompletionHandler(CountingCompletionHandler.Counter counter) : IPluginRunCompletionHandler
{
    public Task OnRunCompletedAsync(PluginRunCompletedContext context, CancellationToken cancellationToken)
    {
        counter.Increment();
        return Task.CompletedTask;
    }

    internal sealed class Counter(Action increment)
    {
        public void Increment() => increment();
    }
}

/// <summary>Creates a briefing in the host's context, optionally failing after the write.</summary>
internal sealed class BriefingCompletionHandler(BriefingCompletionHandler.Switch settings) : IPluginRunCompletionHandler
{
    public Task OnRunCompletedAsync(PluginRunCompletedContext context, CancellationToken cancellationToken)
    {
        using var output = JsonDocument.Parse(context.Run.Output!);
        var db = (TestHostDbContext)context.DbContext;
        db.Briefings.Add(new Briefing
        {
            Id = Guid.NewGuid(),
            RunId = context.Run.RunId,
            UserId = context.Run.UserId,
            Summary = output.RootElement.GetProperty("summary").GetString()!,
        });
        if (settings.FailAfterWrite)
        {
            throw new InvalidOperationException("handler failed after its write");
        }

        return Task.CompletedTask;
    }

    internal sealed class Switch
    {
        public bool FailAfterWrite { get; set; }
    }
}
