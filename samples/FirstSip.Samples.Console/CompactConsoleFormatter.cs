using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>
/// One line per log entry, an exception shown by its type and message only: the terminal belongs to the command's
/// output, and a stack trace repeated by a retry loop buries it. <c>worker</c> keeps the full simple format.
/// </summary>
internal sealed class CompactConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "firstsip-compact";

    public override void Write<TState>(in LogEntry<TState> logEntry, Microsoft.Extensions.Logging.IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        var level = logEntry.LogLevel switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
        textWriter.Write($"{DateTime.Now:HH:mm:ss} {level}: {message}");
        if (logEntry.Exception is { } exception)
        {
            textWriter.Write($" ({exception.GetType().Name}: {FirstLine(exception.Message)})");
        }

        textWriter.WriteLine();
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd();
}
