using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FirstSip.Plugins.Tests.Dispatch;

[Collection(ServersCollectionDefinition.Name)]
public sealed class DispatchFailureTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    private Task<TestHost> HostAsync(Db db, FakeTimeProvider time, ScriptedSecretsProvider.Script script) =>
        TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Time = time,
            Store = o =>
            {
                o.MaxDispatchFailures = 3;
                o.RetryBaseDelay = TimeSpan.FromSeconds(5);
            },
            Builder = b => b.AddSecretsProvider<ScriptedSecretsProvider>(),
            Services = s => s.AddSingleton(script),
        });

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SecretsProviderTimingOut_PutsTheRunBack_WithBackoff_ThenFailsItWithTheReason(Db db)
    {
        var time = Clock();

        // An HTTP secrets provider whose client times out throws TaskCanceledException, with no cancellation of ours.
        var script = new ScriptedSecretsProvider.Script((_, _) => throw new TaskCanceledException(
            "The request to https://vault:s3cr3t-pass@vault.internal/v1/keys?token=hvs.abcdef123 was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing."));
        await using var host = await HostAsync(db, time, script);
        var run = await host.StartRunAsync();

        Assert.Equal((1, 0, 1), await host.Dispatcher.DispatchOnceAsync(CancellationToken.None));
        var first = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Pending, first.Status);
        Assert.Equal(1, first.DispatchFailures);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(5), first.NextAttemptAt);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.DispatchPutBackId);

        // Not due yet: the backoff holds it.
        Assert.Equal(0, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Claimed);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(1, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Failed);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(10), (await host.GetRequiredAsync(run.RunId)).NextAttemptAt);
        time.Advance(TimeSpan.FromSeconds(10));
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        var failed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Failed, failed.Status);
        Assert.StartsWith("dispatch failed 3 times in a row; the last time: the secrets provider failed: TaskCanceledException", failed.Error);
        Assert.Contains("https://[redacted]@vault.internal/v1/keys?token=[redacted] was canceled", failed.Error);
        Assert.DoesNotContain("s3cr3t-pass", failed.Error);
        Assert.DoesNotContain("hvs.abcdef123", failed.Error);
        Assert.Equal(3, script.Calls);
        Assert.Empty(await host.RangeAsync(host.RequestsStream));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StopBetweenClaimAndPublish_StrandsNothing_AndCountsNoFailure(Db db)
    {
        var time = Clock();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var script = new ScriptedSecretsProvider.Script(async (_, token) =>
        {
            entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, token);
            return null;
        });
        await using var host = await HostAsync(db, time, script);
        var runs = new List<PluginRun>();
        for (var i = 0; i < 3; i++)
        {
            runs.Add(await host.StartRunAsync());
        }

        using var stopping = new CancellationTokenSource();
        var cycle = host.Dispatcher.DispatchOnceAsync(stopping.Token);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The runs are claimed (dispatched) and none is published yet: the host stops now.
        Assert.All(await Task.WhenAll(runs.Select(r => host.GetRequiredAsync(r.RunId))), r => Assert.Equal(PluginRunStatus.Dispatched, r.Status));
        await stopping.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cycle);

        foreach (var run in runs)
        {
            var back = await host.GetRequiredAsync(run.RunId);
            Assert.Equal(PluginRunStatus.Pending, back.Status);
            Assert.Equal(0, back.DispatchFailures);
            Assert.Null(back.NextAttemptAt);
        }

        Assert.Empty(await host.RangeAsync(host.RequestsStream));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OneRunsFailure_DoesNotHoldBackTheOthersInItsBatch(Db db)
    {
        var time = Clock();
        PluginRun? bad = null;
        var script = new ScriptedSecretsProvider.Script((run, _) =>
            run.RunId == bad?.RunId ? throw new InvalidOperationException("vault sealed") : Task.FromResult<IReadOnlyDictionary<string, string>?>(null));
        await using var host = await HostAsync(db, time, script);
        bad = await host.StartRunAsync();
        var good = await host.StartRunAsync();

        Assert.Equal((2, 1, 1), await host.Dispatcher.DispatchOnceAsync(CancellationToken.None));
        Assert.Equal(PluginRunStatus.Dispatched, (await host.GetRequiredAsync(good.RunId)).Status);
        var putBack = await host.GetRequiredAsync(bad.RunId);
        Assert.Equal(PluginRunStatus.Pending, putBack.Status);
        Assert.Equal(1, putBack.DispatchFailures);
        Assert.Equal(good.RunId, Assert.Single(await host.ReadRequestsAsync(1)).Request.PluginRunId);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ARequestTooLargeForTheStream_FailsItsRunAlone_TheRestOfTheBulkPublishGoesOut(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Services = s => s.Configure<PluginStreamsOptions>(o => o.MaxPayloadBytes = 4096),
        });
        var first = await host.StartRunAsync("plain", settingsJson: """{"note":"small"}""");
        var large = await host.StartRunAsync("plain", settingsJson: $$"""{"note":"{{new string('x', 8000)}}"}""");
        var last = await host.StartRunAsync("plain", settingsJson: """{"note":"small"}""");

        Assert.Equal((3, 2, 0), await host.Dispatcher.DispatchOnceAsync(CancellationToken.None));
        var failed = await host.GetRequiredAsync(large.RunId);
        Assert.Equal(PluginRunStatus.Failed, failed.Status);
        Assert.StartsWith("the request is too large for the stream", failed.Error, StringComparison.Ordinal);
        var sent = (await host.ReadRequestsAsync(2)).Select(r => r.Request.PluginRunId).ToList();
        Assert.Equal([first.RunId, last.RunId], sent);
        foreach (var run in new[] { first, last })
        {
            var dispatched = await host.GetRequiredAsync(run.RunId);
            Assert.Equal(PluginRunStatus.Dispatched, dispatched.Status);
            Assert.NotNull(dispatched.RequestId);
        }
    }
}

internal sealed class ScriptedSecretsProvider(ScriptedSecretsProvider.Script script) : IPluginSecretsProvider
{
    public async ValueTask<IReadOnlyDictionary<string, string>?> GetSecretsAsync(PluginRun run, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref script.Calls);
        return await script.Next(run, cancellationToken);
    }

    internal sealed class Script(Func<PluginRun, CancellationToken, Task<IReadOnlyDictionary<string, string>?>> next)
    {
        public int Calls;

        public Func<PluginRun, CancellationToken, Task<IReadOnlyDictionary<string, string>?>> Next { get; } = next;
    }
}
