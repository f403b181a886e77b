using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>
/// Lets the writers of one process take a SQLite database's write lock one at a time, in turn, without waiting in SQLite.
/// </summary>
/// <remarks>
/// SQLite has one writer at a time. A writer that finds the lock taken gets <c>SQLITE_BUSY</c>, and Microsoft.Data.Sqlite
/// then retries in a loop that blocks its thread for 150 ms between tries: with a few concurrent writers (starts, the
/// dispatcher, the result and event readers) most of the time went into those sleeps, and the blocked threads starved
/// the thread pool. This interceptor queues each write transaction (and each write statement outside one) on an async
/// gate per database file, taken before <c>BEGIN</c> and given back at commit, rollback or when the connection closes.
/// Writers in other processes are not seen here; SQLite's own locking still decides between processes. A gate held
/// longer than <see cref="MaxWait"/> (a connection the application keeps open in a transaction) is not waited for
/// any longer: the writer then goes on to SQLite's locking, as without the gate.
/// </remarks>
internal sealed class SqliteWriteGate : IDbTransactionInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor
{
    /// <summary>The one instance: the gates are per database file and process, whichever context or container writes.</summary>
    public static readonly SqliteWriteGate Instance = new();

    /// <summary>How long a writer waits for the gate before it goes on without it.</summary>
    internal static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);

    /// <summary>The gate each connection holds now, if any.</summary>
    private readonly ConditionalWeakTable<DbConnection, SemaphoreSlim> _held = [];

    private SqliteWriteGate()
    {
    }

    public InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        Enter(connection);
        return result;
    }

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        await EnterAsync(connection, cancellationToken).ConfigureAwait(false);
        return result;
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Exit(ConnectionOf(transaction, eventData));

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Exit(ConnectionOf(transaction, eventData));
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Exit(ConnectionOf(transaction, eventData));

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Exit(ConnectionOf(transaction, eventData));
        return Task.CompletedTask;
    }

    public InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        if (IsWriteOutsideTransaction(command))
        {
            Enter(command.Connection!);
        }

        return result;
    }

    public async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        if (IsWriteOutsideTransaction(command))
        {
            await EnterAsync(command.Connection!, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (IsWriteOutsideTransaction(command))
        {
            Enter(command.Connection!);
        }

        return result;
    }

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (IsWriteOutsideTransaction(command))
        {
            await EnterAsync(command.Connection!, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        ExitAfterStatement(command);
        return result;
    }

    public ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        ExitAfterStatement(command);
        return ValueTask.FromResult(result);
    }

    // A write statement that returns rows (INSERT ... RETURNING) holds the lock until its reader is done.
    public InterceptionResult DataReaderClosing(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        ExitAfterStatement(command);
        return result;
    }

    public ValueTask<InterceptionResult> DataReaderClosingAsync(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        ExitAfterStatement(command);
        return ValueTask.FromResult(result);
    }

    public InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        ExitAfterStatement(command);
        return result;
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData) => ExitAfterStatement(command);

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        ExitAfterStatement(command);
        return Task.CompletedTask;
    }

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData) => ExitAfterStatement(command);

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default)
    {
        ExitAfterStatement(command);
        return Task.CompletedTask;
    }

    // Whatever ended without a commit or a rollback (a failed BEGIN or COMMIT, a transaction disposed unfinished) ends here.
    public void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) => Exit(connection);

    public Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData)
    {
        Exit(connection);
        return Task.CompletedTask;
    }

    /// <summary>The connection a transaction ran on (a finished SQLite transaction no longer says).</summary>
    private static DbConnection? ConnectionOf(DbTransaction transaction, TransactionEndEventData eventData) =>
        eventData.Context?.Database.GetDbConnection() ?? transaction.Connection;

    /// <summary>Whether a statement writes (INSERT, UPDATE, DELETE, REPLACE) on a SQLite connection outside a transaction.</summary>
    internal static bool IsWriteOutsideTransaction(DbCommand command)
    {
        if (command.Transaction is not null || command.Connection is not SqliteConnection)
        {
            return false;
        }

        var text = command.CommandText.AsSpan().TrimStart();
        return text.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase) || text.StartsWith("REPLACE", StringComparison.OrdinalIgnoreCase);
    }

    private void ExitAfterStatement(DbCommand command)
    {
        if (command.Transaction is null && command.Connection is { } connection)
        {
            Exit(connection);
        }
    }

    private void Enter(DbConnection connection)
    {
        if (GateOf(connection) is { } gate && gate.Wait(MaxWait))
        {
            Hold(connection, gate);
        }
    }

    private async ValueTask EnterAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        if (GateOf(connection) is { } gate && await gate.WaitAsync(MaxWait, cancellationToken).ConfigureAwait(false))
        {
            Hold(connection, gate);
        }
    }

    private void Hold(DbConnection connection, SemaphoreSlim gate)
    {
        if (!_held.TryAdd(connection, gate))
        {
            // The connection holds the gate already (a nested start the provider will refuse): keep one turn.
            gate.Release();
        }
    }

    private void Exit(DbConnection? connection)
    {
        if (connection is not null && _held.TryGetValue(connection, out var gate) && _held.Remove(connection))
        {
            gate.Release();
        }
    }

    /// <summary>The gate of the connection's database file; none for other providers and in-memory databases.</summary>
    private static SemaphoreSlim? GateOf(DbConnection connection)
    {
        if (connection is not SqliteConnection sqlite || string.IsNullOrEmpty(sqlite.DataSource))
        {
            return null;
        }

        return Gates.GetOrAdd(sqlite.DataSource, static _ => new SemaphoreSlim(1, 1));
    }
}
