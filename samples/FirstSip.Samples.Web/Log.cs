namespace FirstSip.Samples.Web;

/// <summary>The web host's own log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "Settings", Level = LogLevel.Information,
        Message = "Plugins: {PluginDirectory} ({PluginCount} plugins); database: {Database}")]
    public static partial void Settings(this ILogger logger, string pluginDirectory, int pluginCount, string database);

    [LoggerMessage(EventId = 2, EventName = "CatalogEmpty", Level = LogLevel.Warning, Message = "The plugin catalog is empty: {Problem}")]
    public static partial void CatalogEmpty(this ILogger logger, string problem);
}
