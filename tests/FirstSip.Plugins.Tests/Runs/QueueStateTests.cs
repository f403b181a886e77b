using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;

namespace FirstSip.Plugins.Tests.Runs;

[Collection(ServersCollectionDefinition.Name)]
public sealed class QueueStateTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task GetQueueAsync_CountsWaitingAndRunningRuns_RunsAhead_AndTheStreamsBacklog(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var runs = new List<PluginRun>();
        for (var i = 0; i < 4; i++)
        {
            runs.Add(await host.StartRunAsync());
            if (i < 3)
            {
                await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
            }
        }

        var before = await host.WithRunnerAsync(r => r.GetQueueAsync(runs[2].RunId));
        Assert.Equal((1, 3, 0), (before.Pending, before.Waiting, before.Running));
        Assert.Equal(2, before.Ahead);
        Assert.NotNull(before.OldestWaitingSince);
        Assert.Equal(3, before.Stream!.Length);
        Assert.Null(before.Stream.Undelivered);
        Assert.Equal(0, before.Stream.Consumers);

        // A worker takes the first one and starts it.
        await host.ReadRequestsAsync(1);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = runs[0].RunId, Kind = PluginEventKind.Started, Attempt = 1 });

        var after = await host.WithRunnerAsync(r => r.GetQueueAsync(runs[2].RunId));
        Assert.Equal((1, 2, 1), (after.Pending, after.Waiting, after.Running));
        Assert.Equal(1, after.Ahead);
        Assert.Equal("crewai-workers", after.Stream!.GroupName);
        Assert.Equal(2, after.Stream.Undelivered);
        Assert.Equal(1, after.Stream.Delivered);
        Assert.Equal(1, after.Stream.Consumers);
        Assert.Null((await host.WithRunnerAsync(r => r.GetQueueAsync(runs[0].RunId))).Ahead);
    }
}
