using System.Threading.Channels;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// In-process fan-out of run updates to <see cref="IPluginRunner.WatchAsync"/> subscribers. Fed after commit by the
/// runner, the result and event consumers, the dispatcher and the reaper. Watchers also re-read the row, so a
/// missed or foreign update is seen at the next poll.
/// </summary>
internal sealed class RunUpdateHub
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, List<Channel<PluginRunUpdate>>> _subscribers = [];

    public Subscription Subscribe(Guid runId)
    {
        var channel = Channel.CreateBounded<PluginRunUpdate>(new BoundedChannelOptions(256)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(runId, out var list))
            {
                list = [];
                _subscribers[runId] = list;
            }

            list.Add(channel);
        }

        return new Subscription(this, runId, channel);
    }

    public void Publish(PluginRunUpdate update)
    {
        Channel<PluginRunUpdate>[] targets;
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(update.RunId, out var list))
            {
                return;
            }

            targets = [.. list];
        }

        foreach (var channel in targets)
        {
            channel.Writer.TryWrite(update);
        }
    }

    /// <summary>Publishes a status update from a run snapshot.</summary>
    public void PublishStatus(PluginRun run, DateTimeOffset at) => Publish(RunUpdates.FromRun(run, at));

    private void Unsubscribe(Guid runId, Channel<PluginRunUpdate> channel)
    {
        lock (_gate)
        {
            if (_subscribers.TryGetValue(runId, out var list))
            {
                list.Remove(channel);
                if (list.Count == 0)
                {
                    _subscribers.Remove(runId);
                }
            }
        }

        channel.Writer.TryComplete();
    }

    internal sealed class Subscription(RunUpdateHub hub, Guid runId, Channel<PluginRunUpdate> channel) : IDisposable
    {
        public ChannelReader<PluginRunUpdate> Reader => channel.Reader;

        public void Dispose() => hub.Unsubscribe(runId, channel);
    }
}

/// <summary>Builds <see cref="PluginRunUpdate"/> values.</summary>
internal static class RunUpdates
{
    public static PluginRunUpdate FromRun(PluginRun run, DateTimeOffset at) => new()
    {
        RunId = run.RunId,
        Kind = PluginRunUpdateKind.Status,
        Status = run.Status,
        Attempt = run.Attempt,
        LastStep = run.LastStep,
        Error = run.Error,
        At = at,
    };
}
