using System.Threading.Channels;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Fan-out of run updates to <see cref="IPluginRunner.WatchAsync"/> subscribers. Fed after commit by the runner, the
/// result and event consumers, the dispatcher and the reaper of this process, and, through the
/// <see cref="RunUpdateRelay"/>, by those of every other process of the application (whichever replica consumed an
/// event, every watcher sees it). Watchers also re-read the row, so an update the relay lost is seen at the next poll.
/// </summary>
internal sealed class RunUpdateHub
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, List<Channel<PluginRunUpdate>>> _subscribers = [];
    private readonly RunUpdateRelay? _relay;

    /// <summary>A hub for this process alone.</summary>
    public RunUpdateHub()
    {
    }

    /// <summary>A hub that also sends and receives the updates of the application's other processes.</summary>
    public RunUpdateHub(RunUpdateRelay relay)
    {
        _relay = relay;
        relay.Attach(Deliver);
    }

    public Subscription Subscribe(Guid runId)
    {
        _relay?.EnsureSubscribed();
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

    /// <summary>Delivers an update made in this process to its watchers and to the other processes'.</summary>
    public void Publish(PluginRunUpdate update)
    {
        _relay?.Send(update);
        Deliver(update);
    }

    /// <summary>Delivers an update to this process's watchers of its run.</summary>
    private void Deliver(PluginRunUpdate update)
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
        Version = run.Version,
    };
}
