namespace FirstSip.Streams;

/// <summary>
/// The names under which FirstSip.Streams publishes traces and metrics, for
/// <c>AddSource(...)</c> and <c>AddMeter(...)</c> in an OpenTelemetry setup.
/// </summary>
public static class PluginStreamsTelemetry
{
    /// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/> that emits publish and process spans.</summary>
    public const string ActivitySourceName = "FirstSip.Streams";

    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> that holds the stream instruments.</summary>
    public const string MeterName = "FirstSip.Streams";
}
