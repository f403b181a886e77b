using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>
/// The conditional updates a run goes through on every execution (claimed, request recorded, started, ended), written as
/// SQL once per model from its EF Core mapping (the table, schema and column names, the value converters, the provider's
/// quoting) and run with <see cref="RelationalDatabaseFacadeExtensions.ExecuteSqlRawAsync(DatabaseFacade, string, IEnumerable{object}, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// They do what the LINQ <c>ExecuteUpdate</c> form would, through the same command pipeline (interceptors, logging), but
/// without translating and looking up an expression tree on every call: on SQLite that took about three times the CPU
/// of the statement itself, and on SQLite it is spent while the database's one write lock is held. Parameters are made by
/// each column's own type mapping, so converted columns (timestamps as binary on SQLite, the status as its wire string)
/// are written exactly as EF Core writes them.
/// </remarks>
internal sealed class RunStatements
{
    private static readonly ConditionalWeakTable<IModel, RunStatements> ByModel = [];

    private readonly ISqlGenerationHelper _sql;
    private (string Name, string Placeholder)[] _parameters = [];
    private readonly Column _runId;
    private readonly Column _status;
    private readonly Column _version;
    private readonly Column _attempt;
    private readonly Column _dispatchedAt;
    private readonly Column _startedAt;
    private readonly Column _deadline;
    private readonly Column _lastStep;
    private readonly Column _requestId;
    private readonly Column _dispatchFailures;
    private readonly Column[] _transitionColumns;
    private readonly Column[] _startColumns;
    private readonly string _transitionSql;
    private readonly string _startSql;
    private readonly string _startAttemptSql;
    private readonly string _claimSql;
    private readonly string _requestIdsHead;
    private readonly string _requestIdsTail;
    private readonly (Column Column, System.Reflection.PropertyInfo Property)[] _row;
    private readonly string _insertSql;

    private RunStatements(DbContext context)
    {
        _sql = context.GetService<ISqlGenerationHelper>();
        var entity = context.Model.FindEntityType(typeof(PluginRun))
            ?? throw new InvalidOperationException("the context's model has no plugin runs");
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        var tableSql = _sql.DelimitIdentifier(table.Name, table.Schema);
        Column Of(string property)
        {
            var p = entity.FindProperty(property)!;
            return new Column(_sql.DelimitIdentifier(p.GetColumnName(table)!), (RelationalTypeMapping)p.GetRelationalTypeMapping());
        }

        _runId = Of(nameof(PluginRun.RunId));
        _status = Of(nameof(PluginRun.Status));
        _version = Of(nameof(PluginRun.Version));
        _attempt = Of(nameof(PluginRun.Attempt));
        _dispatchedAt = Of(nameof(PluginRun.DispatchedAt));
        _startedAt = Of(nameof(PluginRun.StartedAt));
        _deadline = Of(nameof(PluginRun.Deadline));
        _lastStep = Of(nameof(PluginRun.LastStep));
        _requestId = Of(nameof(PluginRun.RequestId));
        _dispatchFailures = Of(nameof(PluginRun.DispatchFailures));
        Column[] transitionSet =
        [
            _status, Of(nameof(PluginRun.Output)), Of(nameof(PluginRun.Error)), _attempt, Of(nameof(PluginRun.NextAttemptAt)), _dispatchedAt,
            _startedAt, _deadline, Of(nameof(PluginRun.CompletedAt)), Of(nameof(PluginRun.QueueDeadline)), _requestId, _dispatchFailures,
            _lastStep, _version,
        ];

        // Each statement's parameters, in the order of their values.
        _transitionColumns = [.. transitionSet, _runId, _version];
        _startColumns = [_status, _startedAt, _deadline, _lastStep, _runId, _status, _status, _attempt];

        // Every mapped column, for inserting whole rows.
        _row = [.. entity.GetProperties().Select(property => (Of(property.Name), property.PropertyInfo
            ?? throw new InvalidOperationException($"{nameof(PluginRun)}.{property.Name} has no CLR property")))];
        _insertSql = $"INSERT INTO {tableSql} ({string.Join(", ", _row.Select(static c => c.Column.Sql))}) VALUES ";

        var p = Parameters(transitionSet.Length + 2).Select(static n => n.Placeholder).ToArray();
        var v = _version.Sql;

        // The result's transition writes the whole row as the applier computed it, if the version is still the one it read.
        var transition = new StringBuilder($"UPDATE {tableSql} SET ");
        for (var i = 0; i < transitionSet.Length; i++)
        {
            transition.Append(i == 0 ? "" : ", ").Append(transitionSet[i].Sql).Append(" = ").Append(p[i]);
        }

        var n = transitionSet.Length;
        _transitionSql = transition.Append(" WHERE ").Append(_runId.Sql).Append(" = ").Append(p[n])
            .Append(" AND ").Append(v).Append(" = ").Append(p[n + 1]).ToString();

        // A started event: dispatched (or, started again by a worker that took over, running) -> running, the backstop set.
        _startSql = $"UPDATE {tableSql} SET {_status.Sql} = {p[0]}, {_startedAt.Sql} = {p[1]}, {_deadline.Sql} = {p[2]}, "
            + $"{_lastStep.Sql} = COALESCE({p[3]}, {_lastStep.Sql}), {v} = {v} + 1 "
            + $"WHERE {_runId.Sql} = {p[4]} AND ({_status.Sql} = {p[5]} OR {_status.Sql} = {p[6]})";
        _startAttemptSql = _startSql + $" AND {_attempt.Sql} = {p[7]}";

        // The dispatcher's claim of a batch: each run pending at the version it read -> dispatched (the runs' own
        // conditions follow, in an OR, and the statement returns the ids it claimed).
        _claimSql = $"UPDATE {tableSql} SET {_status.Sql} = {p[0]}, {_dispatchedAt.Sql} = {p[1]}, {_requestId.Sql} = NULL, {_deadline.Sql} = NULL, "
            + $"{_startedAt.Sql} = NULL, {Of(nameof(PluginRun.NextAttemptAt)).Sql} = NULL, {v} = {v} + 1 "
            + $"WHERE {_status.Sql} = {p[2]} AND (";
        // The entry ids of published requests (not a transition: the version stays), each unless a later attempt began;
        // the runs' ids and attempts follow, in a CASE and in an OR.
        _requestIdsHead = $"UPDATE {tableSql} SET {_requestId.Sql} = CASE {_runId.Sql}";
        _requestIdsTail = $"{_dispatchFailures.Sql} = {p[0]} "
            + $"WHERE {_requestId.Sql} IS NULL AND ({_status.Sql} = {p[1]} OR {_status.Sql} = {p[2]}) AND (";
    }

    /// <summary>The statements of <paramref name="context"/>'s model.</summary>
    public static RunStatements Of(DbContext context) => ByModel.GetValue(context.Model, _ => new RunStatements(context));

    /// <summary>Inserts new runs (every column as the run has it) in one statement.</summary>
    /// <exception cref="DbUpdateException">The database refused the rows (the provider's exception is inside).</exception>
    public async Task InsertAsync(DbContext context, IReadOnlyList<PluginRun> runs, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder(_insertSql);
        var columns = new Column[runs.Count * _row.Length];
        var values = new object?[columns.Length];
        var parameters = Parameters(columns.Length);
        var index = 0;
        foreach (var run in runs)
        {
            sql.Append(index == 0 ? "(" : ", (");
            for (var i = 0; i < _row.Length; i++, index++)
            {
                sql.Append(i == 0 ? "" : ", ").Append(parameters[index].Placeholder);
                columns[index] = _row[i].Column;
                values[index] = _row[i].Property.GetValue(run);
            }

            sql.Append(')');
        }

        try
        {
            await ExecuteAsync(context, sql.ToString(), columns, values, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw new DbUpdateException($"inserting {runs.Count} plugin run(s) failed: {ex.Message}", ex);
        }
    }

    /// <summary>Writes the row's transition columns from <paramref name="run"/> if its version is still <paramref name="expectedVersion"/>.</summary>
    /// <returns>Whether the row was written.</returns>
    public async Task<bool> TransitionAsync(DbContext context, PluginRun run, long expectedVersion, CancellationToken cancellationToken)
    {
        object?[] values =
        [
            run.Status, run.Output, run.Error, run.Attempt, run.NextAttemptAt, run.DispatchedAt, run.StartedAt, run.Deadline,
            run.CompletedAt, run.QueueDeadline, run.RequestId, run.DispatchFailures, run.LastStep, run.Version, run.RunId, expectedVersion,
        ];
        return await ExecuteAsync(context, _transitionSql, _transitionColumns, values, cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Claims pending runs, each at the version it was read with, for dispatch at <paramref name="dispatchedAt"/>, in one
    /// statement.
    /// </summary>
    /// <returns>The ids of the runs this call claimed.</returns>
    public async Task<HashSet<Guid>> ClaimAsync(
        DbContext context, IReadOnlyList<(Guid RunId, long Version)> runs, DateTimeOffset dispatchedAt, CancellationToken cancellationToken)
    {
        var p = Parameters(3 + (2 * runs.Count));
        var columns = new Column[3 + (2 * runs.Count)];
        var values = new object?[columns.Length];
        (columns[0], values[0]) = (_status, PluginRunStatus.Dispatched);
        (columns[1], values[1]) = (_dispatchedAt, dispatchedAt);
        (columns[2], values[2]) = (_status, PluginRunStatus.Pending);
        var sql = new StringBuilder(_claimSql);
        for (var i = 0; i < runs.Count; i++)
        {
            var (id, version) = (3 + (2 * i), 4 + (2 * i));
            (columns[id], values[id]) = (_runId, runs[i].RunId);
            (columns[version], values[version]) = (_version, runs[i].Version);
            AppendMatch(sql, i, p[id].Placeholder, _version, p[version].Placeholder);
        }

        sql.Append(") RETURNING ").Append(_runId.Sql);

        // Run through the command pipeline ExecuteSqlRaw uses (interceptors, logging), the returned ids read off the
        // reader rather than through the LINQ query pipeline that SqlQueryRaw goes through.
        var command = context.GetService<IRawSqlCommandBuilder>().Build(sql.ToString(), CreateParameters(context, columns, values), context.Model);
        var reader = await command.RelationalCommand.ExecuteReaderAsync(
            new RelationalCommandParameterObject(
                context.GetService<IRelationalConnection>(),
                command.ParameterValues,
                readerColumns: null,
                context,
                context.GetService<IRelationalCommandDiagnosticsLogger>(),
                CommandSource.ExecuteSqlRaw),
            cancellationToken).ConfigureAwait(false);
        var claimed = new HashSet<Guid>();
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                claimed.Add(reader.DbDataReader.GetFieldValue<Guid>(0));
            }
        }

        return claimed;
    }

    /// <summary>
    /// Records the entry ids of published requests, each for its run's attempt, and clears the runs' dispatch failure
    /// counts, in one statement.
    /// </summary>
    /// <returns>How many runs recorded their id.</returns>
    public Task<int> RecordRequestIdsAsync(
        DbContext context, IReadOnlyList<(Guid RunId, int Attempt, string EntryId)> requests, CancellationToken cancellationToken)
    {
        var p = Parameters(3 + (3 * requests.Count));
        var columns = new Column[3 + (3 * requests.Count)];
        var values = new object?[columns.Length];
        (columns[0], values[0]) = (_dispatchFailures, 0);
        (columns[1], values[1]) = (_status, PluginRunStatus.Dispatched);
        (columns[2], values[2]) = (_status, PluginRunStatus.Running);
        var set = new StringBuilder(_requestIdsHead);
        var where = new StringBuilder(_requestIdsTail);
        for (var i = 0; i < requests.Count; i++)
        {
            var (id, attempt, entry) = (3 + (3 * i), 4 + (3 * i), 5 + (3 * i));
            (columns[id], values[id]) = (_runId, requests[i].RunId);
            (columns[attempt], values[attempt]) = (_attempt, requests[i].Attempt);
            (columns[entry], values[entry]) = (_requestId, requests[i].EntryId);
            set.Append(" WHEN ").Append(p[id].Placeholder).Append(" THEN ").Append(p[entry].Placeholder);
            AppendMatch(where, i, p[id].Placeholder, _attempt, p[attempt].Placeholder);
        }

        set.Append(" END, ").Append(where).Append(')');
        return context.Database.ExecuteSqlRawAsync(set.ToString(), CreateParameters(context, columns, values), cancellationToken);
    }

    /// <summary>Appends the <paramref name="index"/>th run's term of a batch's OR: its id, and <paramref name="column"/>'s value.</summary>
    private void AppendMatch(StringBuilder sql, int index, string runId, Column column, string value) =>
        sql.Append(index == 0 ? "(" : " OR (").Append(_runId.Sql).Append(" = ").Append(runId)
            .Append(" AND ").Append(column.Sql).Append(" = ").Append(value).Append(')');

    /// <summary>
    /// Moves a <c>dispatched</c> run (and, when <paramref name="restart"/>, a <c>running</c> one) of <paramref name="attempt"/>
    /// (any, when null) to <c>running</c>, started at <paramref name="now"/> with its backstop <paramref name="deadline"/>.
    /// </summary>
    /// <returns>Whether the run moved.</returns>
    public async Task<bool> StartAsync(
        DbContext context, Guid runId, int? attempt, bool restart, DateTimeOffset now, DateTimeOffset deadline, string? step, CancellationToken cancellationToken)
    {
        var also = restart ? PluginRunStatus.Running : PluginRunStatus.Dispatched;
        object?[] values = attempt is { } a
            ? [PluginRunStatus.Running, now, deadline, step, runId, PluginRunStatus.Dispatched, also, a]
            : [PluginRunStatus.Running, now, deadline, step, runId, PluginRunStatus.Dispatched, also];
        return await ExecuteAsync(context, attempt is null ? _startSql : _startAttemptSql, _startColumns, values, cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Runs <paramref name="sql"/> with a parameter per value, made by <paramref name="columns"/>' mapping of the same index.</summary>
    private Task<int> ExecuteAsync(DbContext context, string sql, Column[] columns, object?[] values, CancellationToken cancellationToken) =>
        context.Database.ExecuteSqlRawAsync(sql, CreateParameters(context, columns, values), cancellationToken);

    /// <summary>A parameter per value (<c>p0</c>, <c>p1</c>, ...), made by <paramref name="columns"/>' mapping of the same index.</summary>
    private DbParameter[] CreateParameters(DbContext context, Column[] columns, object?[] values)
    {
        using var factory = context.Database.GetDbConnection().CreateCommand();
        var names = Parameters(values.Length);
        var parameters = new DbParameter[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            parameters[i] = columns[i].Mapping.CreateParameter(factory, names[i].Name, values[i], nullable: true);
        }

        return parameters;
    }

    /// <summary>At least <paramref name="count"/> parameter names (<c>p0</c>, <c>p1</c>, ...) as the provider writes them, made once.</summary>
    private (string Name, string Placeholder)[] Parameters(int count)
    {
        var known = _parameters;
        if (known.Length >= count)
        {
            return known;
        }

        var grown = new (string Name, string Placeholder)[Math.Max(count, known.Length * 2)];
        known.CopyTo(grown, 0);
        for (var i = known.Length; i < grown.Length; i++)
        {
            var name = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"p{i}");
            grown[i] = (_sql.GenerateParameterName(name), _sql.GenerateParameterNamePlaceholder(name));
        }

        _parameters = grown; // a race grows it twice, to the same names
        return grown;
    }

    private sealed record Column(string Sql, RelationalTypeMapping Mapping);
}
