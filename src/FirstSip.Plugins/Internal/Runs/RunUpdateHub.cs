using System.Threading.Channels;
using FirstSip.Streams;

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
    private readonly Dictionary<Guid, List<Subscription>> _subscribers = [];
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

    /// <summary>How long a new watcher waits for the relay's subscription before it reads the run anyway.</summary>
    private static readonly TimeSpan RelayWait = TimeSpan.FromSeconds(2);

    /// <summary>Subscribes to a run's updates, and waits (briefly, without failing) until other processes' updates arrive too.</summary>
    public async Task<Subscription> SubscribeAsync(Guid runId, CancellationToken cancellationToken)
    {
        var subscription = Subscribe(runId);
        if (_relay is not null)
        {
            try
            {
                await _relay.EnsureSubscribedAsync().WaitAsync(RelayWait, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Redis is unreachable or slow: the watcher reads the database until the relay works.
            }
            catch (OperationCanceledException)
            {
                subscription.Dispose();
                throw;
            }
        }

        return subscription;
    }

    public Subscription Subscribe(Guid runId)
    {
        _ = _relay?.EnsureSubscribedAsync();
        var subscription = new Subscription(this, runId, Channel.CreateBounded<PluginRunUpdate>(new BoundedChannelOptions(256)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }));
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(runId, out var list))
            {
                list = [];
                _subscribers[runId] = list;
            }

            list.Add(subscription);
        }

        return subscription;
    }

    /// <summary>Delivers an update made in this process to its watchers and to the other processes'.</summary>
    public void Publish(PluginRunUpdate update) => Publish(update, run: null);

    /// <summary>Publishes a status update from a run snapshot.</summary>
    public void PublishStatus(PluginRun run, DateTimeOffset at) => Publish(RunUpdates.FromRun(run, at), run: null);

    /// <summary>
    /// Publishes a status update from the whole row as this process has just committed it: when terminal, this process's
    /// subscribers of the run also keep a copy, so a waiter returns it without reading the row again.
    /// </summary>
    public void PublishCommitted(PluginRun run, DateTimeOffset at) => Publish(RunUpdates.FromRun(run, at), run);

    private void Publish(PluginRunUpdate update, PluginRun? run)
    {
        _relay?.Send(update);
        Deliver(update, update.IsTerminal ? run : null);
    }

    /// <summary>Delivers an update to this process's watchers of its run.</summary>
    private void Deliver(PluginRunUpdate update) => Deliver(update, terminalRun: null);

    private void Deliver(PluginRunUpdate update, PluginRun? terminalRun)
    {
        Subscription[] targets;
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(update.RunId, out var list))
            {
                return;
            }

            targets = [.. list];
        }

        foreach (var subscription in targets)
        {
            if (terminalRun is not null)
            {
                subscription.TerminalRun = terminalRun;
            }

            subscription.Channel.Writer.TryWrite(update);
        }
    }

    /// <summary>How many subscriptions of this process watch <paramref name="runId"/>.</summary>
    internal int SubscriberCount(Guid runId)
    {
        lock (_gate)
        {
            return _subscribers.TryGetValue(runId, out var list) ? list.Count : 0;
        }
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_gate)
        {
            if (_subscribers.TryGetValue(subscription.RunId, out var list))
            {
                list.Remove(subscription);
                if (list.Count == 0)
                {
                    _subscribers.Remove(subscription.RunId);
                }
            }
        }

        subscription.Channel.Writer.TryComplete();
    }

    internal sealed class Subscription(RunUpdateHub hub, Guid runId, Channel<PluginRunUpdate> channel) : IDisposable
    {
        private PluginRun? _terminalRun;

        public Guid RunId => runId;

        public ChannelReader<PluginRunUpdate> Reader => channel.Reader;

        internal Channel<PluginRunUpdate> Channel => channel;

        /// <summary>
        /// The run as this process committed its terminal transition, if it did while subscribed. Shared with the
        /// committer and the run's other subscribers: read it, or copy it before handing it out.
        /// </summary>
        public PluginRun? TerminalRun
        {
            get => Volatile.Read(ref _terminalRun);
            internal set => Volatile.Write(ref _terminalRun, value);
        }

        public void Dispose() => hub.Unsubscribe(this);
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
        At = TransitionTime(run) ?? at,
        Version = run.Version,
    };

    /// <summary>When the run entered its current status, as stored (the same for every process that reads it).</summary>
    private static DateTimeOffset? TransitionTime(PluginRun run) => run.Status switch
    {
        PluginRunStatus.Pending => run.NextAttemptAt is null ? run.CreatedAt : null,
        PluginRunStatus.Dispatched => run.DispatchedAt,
        PluginRunStatus.Running => run.StartedAt,
        _ => run.CompletedAt,
    };

    /// <summary>Builds the progress update of an event on the event stream.</summary>
    public static PluginRunUpdate FromEvent(PluginEvent evt, string eventId, PluginRun run, DateTimeOffset now) => new()
    {
        RunId = run.RunId,
        Kind = PluginRunUpdateKind.Progress,
        Status = run.Status,
        Attempt = run.Attempt,
        LastStep = run.LastStep,
        ProgressKind = evt.Kind switch
        {
            PluginEventKind.Started => "started",
            PluginEventKind.Step => "step",
            _ => "heartbeat",
        },
        Step = evt.Step,
        Message = evt.Message,
        At = evt.At == default ? now : evt.At,
        Version = run.Version,
        EventId = eventId,
    };
}
