namespace FirstSip.Plugins;

/// <summary>Filters and paging for <see cref="IPluginRunner.ListAsync"/>. Every filter is optional.</summary>
public sealed class PluginRunQuery
{
    /// <summary>Gets the plugin name to match.</summary>
    public string? PluginName { get; init; }

    /// <summary>Gets the user id to match.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the statuses to match (any of them).</summary>
    public IReadOnlyCollection<PluginRunStatus>? Statuses { get; init; }

    /// <summary>Gets the earliest creation time (inclusive).</summary>
    public DateTimeOffset? CreatedFrom { get; init; }

    /// <summary>Gets the latest creation time (exclusive).</summary>
    public DateTimeOffset? CreatedBefore { get; init; }

    /// <summary>Gets the number of matching runs to skip.</summary>
    /// <value>Default: 0.</value>
    public int Skip { get; init; }

    /// <summary>Gets the page size (1 to 1000).</summary>
    /// <value>Default: 50.</value>
    public int Take { get; init; } = 50;
}

/// <summary>One page of <see cref="IPluginRunner.ListAsync"/>.</summary>
/// <param name="Items">The runs on the page, newest first.</param>
/// <param name="TotalCount">How many runs match the filters in all.</param>
/// <param name="Skip">The number of runs skipped before this page.</param>
/// <param name="Take">The requested page size.</param>
public sealed record PluginRunPage(IReadOnlyList<PluginRun> Items, int TotalCount, int Skip, int Take)
{
    /// <summary>Gets whether more runs follow this page.</summary>
    public bool HasMore => Skip + Items.Count < TotalCount;
}
