using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Reads stream state, the worker registry and dead letters; removes stale consumers; replays dead letters.</summary>
internal sealed class StreamOperations : IStreamOperations
{
    internal const int MaxDeadLetterPage = 1000;
    private const string DeadFieldPrefix = "dead_";

    // Deletes a consumer only when, inside the script, it still holds nothing and has been idle long enough
    // (XINFO CONSUMERS answers as RESP2 pairs inside a script).
    private const string RemoveIfStaleScript = """
        local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
        for _, c in ipairs(consumers) do
          local name, pending, idle = nil, nil, nil
          for i = 1, #c, 2 do
            if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] elseif c[i] == 'idle' then idle = c[i + 1] end
          end
          if name == ARGV[2] then
            if tonumber(pending) == 0 and tonumber(idle) >= tonumber(ARGV[3]) then
              return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) + 1
            end
            return 0
          end
        end
        return 0
        """;

    // Moves a dead letter back to its stream: XADD of its fields without dead_*, plus replayed_from, then XDEL.
    private const string ReplayScript = """
        local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
        if #found == 0 then return false end
        local fields = found[1][2]
        local out = {}
        for i = 1, #fields, 2 do
          if string.sub(fields[i], 1, 5) ~= 'dead_' then
            out[#out + 1] = fields[i]
            out[#out + 1] = fields[i + 1]
          end
        end
        out[#out + 1] = 'replayed_from'
        out[#out + 1] = ARGV[1]
        local id = redis.call('XADD', KEYS[2], '*', unpack(out))
        redis.call('XDEL', KEYS[1], ARGV[1])
        return id
        """;

    private readonly IConnectionMultiplexer _connection;
    private readonly IOptions<PluginStreamsOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<StreamOperations> _logger;

    public StreamOperations(IConnectionMultiplexer connection, IOptions<PluginStreamsOptions> options, TimeProvider timeProvider, ILogger<StreamOperations> logger)
    {
        _connection = connection;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    private IDatabase Database => _connection.GetDatabase();

    public static string DeadLetterStream(string streamName) => streamName + ":dead";

    public async Task<StreamState> GetStreamStateAsync(string streamName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        var database = Database;
        RedisKey key = streamName;
        var deadLetters = await database.StreamLengthAsync(DeadLetterStream(streamName)).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!await database.KeyExistsAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            return new StreamState { StreamName = streamName, Length = 0, Groups = [], DeadLetters = deadLetters };
        }

        var info = await database.StreamInfoAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        var groups = await database.StreamGroupInfoAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        var now = _timeProvider.GetUtcNow();
        var states = new List<StreamGroupState>(groups.Length);
        foreach (var group in groups.OrderBy(g => g.Name, StringComparer.Ordinal))
        {
            var consumers = await database.StreamConsumerInfoAsync(key, group.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
            string? oldestId = null;
            TimeSpan? oldestAge = null;
            if (group.PendingMessageCount > 0)
            {
                var pending = await database.StreamPendingAsync(key, group.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
                oldestId = pending.LowestPendingMessageId.ToString();
                if (IdTime(oldestId) is { } added)
                {
                    oldestAge = now - added > TimeSpan.Zero ? now - added : TimeSpan.Zero;
                }
            }

            states.Add(new StreamGroupState
            {
                GroupName = group.Name,
                Lag = group.Lag,
                Pending = group.PendingMessageCount,
                OldestPendingId = oldestId,
                OldestPendingAge = oldestAge,
                LastDeliveredId = group.LastDeliveredId,
                Consumers = consumers
                    .OrderBy(c => c.Name, StringComparer.Ordinal)
                    .Select(c => new StreamConsumerState { ConsumerName = c.Name, Pending = c.PendingMessageCount, Idle = TimeSpan.FromMilliseconds(c.IdleTimeInMilliseconds) })
                    .ToList(),
            });
        }

        return new StreamState
        {
            StreamName = streamName,
            Length = info.Length,
            LastEntryId = info.Length == 0 ? null : info.LastGeneratedId.ToString(),
            Groups = states,
            DeadLetters = deadLetters,
        };
    }

    public async Task<IReadOnlyList<StreamState>> GetPluginStreamsAsync(CancellationToken cancellationToken = default)
    {
        var options = _options.Value;
        var states = new List<StreamState>(3);
        foreach (var stream in new[] { options.RequestsStream, options.ResultsStream, options.EventsStream })
        {
            states.Add(await GetStreamStateAsync(stream, cancellationToken).ConfigureAwait(false));
        }

        return states;
    }

    public async Task<IReadOnlyList<PluginWorker>> ListWorkersAsync(CancellationToken cancellationToken = default)
    {
        var prefix = WorkerKeyPrefix;
        var keys = new HashSet<RedisKey>();
        foreach (var server in _connection.GetServers())
        {
            if (server.IsReplica || !server.IsConnected)
            {
                continue;
            }

            await foreach (var key in server.KeysAsync(pattern: EscapePattern(prefix) + "*", pageSize: 500).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                keys.Add(key);
            }
        }

        if (keys.Count == 0)
        {
            return [];
        }

        var ordered = keys.ToArray();
        var values = await Database.StringGetAsync(ordered).WaitAsync(cancellationToken).ConfigureAwait(false);
        var workers = new List<PluginWorker>(ordered.Length);
        for (var i = 0; i < ordered.Length; i++)
        {
            if (!values[i].IsNullOrEmpty && ParseWorker(((string)ordered[i]!)[prefix.Length..], values[i]!) is { } worker)
            {
                workers.Add(worker);
            }
        }

        return workers.OrderBy(w => w.ConsumerName, StringComparer.Ordinal).ToList();
    }

    public async Task<IReadOnlyList<string>> RemoveStaleConsumersAsync(string streamName, string groupName, TimeSpan idleTime, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentException.ThrowIfNullOrEmpty(groupName);
        var database = Database;
        if (!await database.KeyExistsAsync(streamName).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            return [];
        }

        var groups = await database.StreamGroupInfoAsync(streamName).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!groups.Any(g => g.Name == groupName))
        {
            return [];
        }

        var consumers = await database.StreamConsumerInfoAsync(streamName, groupName).WaitAsync(cancellationToken).ConfigureAwait(false);
        var idleMs = (long)idleTime.TotalMilliseconds;
        var removed = new List<string>();
        foreach (var consumer in consumers)
        {
            if (consumer.PendingMessageCount > 0 || consumer.IdleTimeInMilliseconds < idleMs)
            {
                continue;
            }

            if (await database.KeyExistsAsync(WorkerKeyPrefix + consumer.Name).WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            var result = await database.ScriptEvaluateAsync(RemoveIfStaleScript, [streamName], [groupName, consumer.Name, idleMs])
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            if ((long)result > 0)
            {
                removed.Add(consumer.Name);
                _logger.StaleConsumerRemoved(consumer.Name, groupName, streamName);
            }
        }

        return removed;
    }

    public async Task<IReadOnlyList<DeadLetter>> ListDeadLettersAsync(string streamName, int count = 50, string? beforeId = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxDeadLetterPage);
        var max = string.IsNullOrEmpty(beforeId) ? "+" : "(" + beforeId;
        var entries = await Database.StreamRangeAsync(DeadLetterStream(streamName), "-", max, count, Order.Descending)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        return entries.Select(e => ToDeadLetter(streamName, e)).ToList();
    }

    public async Task<DeadLetter?> GetDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentException.ThrowIfNullOrEmpty(entryId);
        var entries = await Database.StreamRangeAsync(DeadLetterStream(streamName), entryId, entryId, 1).WaitAsync(cancellationToken).ConfigureAwait(false);
        return entries.Length == 0 ? null : ToDeadLetter(streamName, entries[0]);
    }

    public async Task<string?> ReplayDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentException.ThrowIfNullOrEmpty(entryId);
        var result = await Database.ScriptEvaluateAsync(ReplayScript, [DeadLetterStream(streamName), streamName], [entryId])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsNull)
        {
            return null;
        }

        var id = (string?)result;
        if (id is not null)
        {
            _logger.DeadLetterReplayed(entryId, streamName, id);
        }

        return id;
    }

    public async Task<bool> DeleteDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentException.ThrowIfNullOrEmpty(entryId);
        var deleted = await Database.StreamDeleteAsync(DeadLetterStream(streamName), [entryId]).WaitAsync(cancellationToken).ConfigureAwait(false);
        return deleted > 0;
    }

    public async Task<long> PurgeDeadLettersAsync(string streamName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        var database = Database;
        var dead = DeadLetterStream(streamName);
        var length = await database.StreamLengthAsync(dead).WaitAsync(cancellationToken).ConfigureAwait(false);
        await database.KeyDeleteAsync(dead).WaitAsync(cancellationToken).ConfigureAwait(false);
        return length;
    }

    private string WorkerKeyPrefix => _options.Value.KeyPrefix + "worker:";

    private static string EscapePattern(string text)
    {
        var escaped = new System.Text.StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }

    internal static DateTimeOffset? IdTime(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return null;
        }

        var dash = id.IndexOf('-', StringComparison.Ordinal);
        var ms = dash < 0 ? id : id[..dash];
        return long.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? DateTimeOffset.FromUnixTimeMilliseconds(value) : null;
    }

    private static DeadLetter ToDeadLetter(string streamName, StreamEntry entry)
    {
        var fields = entry.Values.Select(v => new KeyValuePair<string, string>(v.Name.ToString(), v.Value.ToString())).ToList();
        string? Field(string name) => fields.FirstOrDefault(f => f.Key == name).Value;
        var id = entry.Id.ToString();
        DateTimeOffset? deadAt = long.TryParse(Field(DeadFieldPrefix + "at"), NumberStyles.None, CultureInfo.InvariantCulture, out var at)
            ? DateTimeOffset.FromUnixTimeMilliseconds(at)
            : IdTime(id);
        return new DeadLetter
        {
            StreamName = streamName,
            EntryId = id,
            Reason = Field(DeadFieldPrefix + "reason"),
            OriginalId = Field(DeadFieldPrefix + "original_id"),
            GroupName = Field(DeadFieldPrefix + "group"),
            ConsumerName = Field(DeadFieldPrefix + "consumer"),
            DeadAt = deadAt,
            RunId = ReadRunId(Field("payload")),
            Fields = fields,
        };
    }

    private static Guid? ReadRunId(string? payload)
    {
        if (string.IsNullOrEmpty(payload))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("plugin_run_id", out var value)
                && value.ValueKind == JsonValueKind.String
                && Guid.TryParse(value.GetString(), out var runId)
                ? runId
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static PluginWorker? ParseWorker(string consumer, string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            long? Number(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
            DateTimeOffset? Time(JsonElement e, string name) => Number(e, name) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

            var plugins = root.TryGetProperty("plugins", out var p) && p.ValueKind == JsonValueKind.Array
                ? p.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList()
                : [];
            var runs = new List<PluginWorkerRun>();
            if (root.TryGetProperty("in_flight", out var f) && f.ValueKind == JsonValueKind.Array)
            {
                foreach (var run in f.EnumerateArray())
                {
                    if (run.ValueKind == JsonValueKind.Object && Text(run, "run_id") is { } runId)
                    {
                        runs.Add(new PluginWorkerRun
                        {
                            RunId = runId,
                            PluginName = Text(run, "plugin"),
                            Attempt = Number(run, "attempt") is { } a ? (int)a : null,
                            StartedAt = Time(run, "started_at"),
                        });
                    }
                }
            }

            return new PluginWorker
            {
                ConsumerName = Text(root, "consumer") ?? consumer,
                Host = Text(root, "host"),
                ProcessId = Number(root, "pid"),
                Version = Text(root, "version"),
                StreamName = Text(root, "stream"),
                GroupName = Text(root, "group"),
                Plugins = plugins,
                Slots = Number(root, "slots") is { } s ? (int)s : 0,
                InFlight = runs,
                StartedAt = Time(root, "started_at"),
                SeenAt = Time(root, "seen_at"),
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
