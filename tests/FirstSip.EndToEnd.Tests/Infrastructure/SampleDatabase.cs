using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using Microsoft.EntityFrameworkCore;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Reads a host's SQLite database from the test, to check what the hosts stored.</summary>
internal static class SampleDatabase
{
    public static BriefingsDbContext Open(string path) =>
        new SqliteBriefingsDbContext(new DbContextOptionsBuilder<SqliteBriefingsDbContext>().UseSqlite($"Data Source={path}").Options);

    public static async Task<PluginRun?> FindRunAsync(string path, Guid runId)
    {
        await using var db = Open(path);
        return await db.Set<PluginRun>().AsNoTracking().SingleOrDefaultAsync(r => r.RunId == runId);
    }

    public static async Task<Briefing?> FindBriefingAsync(string path, Guid runId)
    {
        await using var db = Open(path);
        return await db.Briefings.AsNoTracking().SingleOrDefaultAsync(b => b.RunId == runId);
    }

    public static async Task<int> CountRunsAsync(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        await using var db = Open(path);
        return await db.Set<PluginRun>().CountAsync();
    }

    /// <summary>Waits until the run satisfies <paramref name="condition"/>, re-reading it every 100 ms.</summary>
    public static async Task<PluginRun> WaitForRunAsync(string path, Guid runId, Func<PluginRun, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        PluginRun? run = null;
        while (DateTime.UtcNow < deadline)
        {
            run = await FindRunAsync(path, runId);
            if (run is not null && condition(run))
            {
                return run;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"run {runId} was not {what} within {timeout}; last seen: {run?.Status.ToWireString() ?? "absent"} {run?.Error}");
    }
}
