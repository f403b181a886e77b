using FirstSip.Plugins.Internal.Storage;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Tests.Infrastructure;

/// <summary>Counts one kind of EF Core diagnostic event (a completed save, an executed command) on one database.</summary>
internal sealed class EfEventCounter : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private readonly string _connectionString;
    private readonly string? _eventName;
    private readonly Func<DbContextEventData, bool> _where;
    private readonly Func<DbContextEventData, int> _weight;
    private readonly IDisposable _all;
    private readonly List<IDisposable> _listeners = [];
    private int _count;
    private int _total;

    /// <param name="connectionString">The database's connection string, as the context has it.</param>
    /// <param name="eventId">The event, e.g. <c>CoreEventId.SaveChangesCompleted</c>.</param>
    /// <param name="where">Which of those events count; all by default.</param>
    /// <param name="weight">What each adds to <see cref="Total"/>; 1 by default.</param>
    public EfEventCounter(string connectionString, EventId eventId, Func<DbContextEventData, bool>? where = null, Func<DbContextEventData, int>? weight = null)
    {
        _connectionString = connectionString;
        _eventName = eventId.Name;
        _where = where ?? (static _ => true);
        _weight = weight ?? (static _ => 1);
        _all = DiagnosticListener.AllListeners.Subscribe(this);
    }

    /// <summary>How many events counted.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The sum of their weights.</summary>
    public int Total => Volatile.Read(ref _total);

    public void OnNext(DiagnosticListener value)
    {
        if (value.Name == DbLoggerCategory.Name)
        {
            lock (_listeners)
            {
                _listeners.Add(value.Subscribe(this));
            }
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key == _eventName && value.Value is DbContextEventData data
            && IsTheDatabase(data.Context?.Database.GetConnectionString()) && _where(data))
        {
            Interlocked.Increment(ref _count);
            Interlocked.Add(ref _total, _weight(data));
        }
    }

    /// <summary>Whether a context's connection string is the one given, as given or as the package's own context has it.</summary>
    private bool IsTheDatabase(string? connectionString) =>
        connectionString == _connectionString
        || (connectionString is not null && _connectionString.Contains("Host=", StringComparison.OrdinalIgnoreCase)
            && connectionString == StandaloneContextFactory.WithStoreDefaults(_connectionString));

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose()
    {
        _all.Dispose();
        lock (_listeners)
        {
            _listeners.ForEach(l => l.Dispose());
        }
    }
}
