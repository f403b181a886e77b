namespace FirstSip.Plugins;

/// <summary>Names to register with OpenTelemetry (<c>AddSource</c>, <c>AddMeter</c>).</summary>
public static class PluginRunsTelemetry
{
    /// <summary>The name of the package's <see cref="System.Diagnostics.ActivitySource"/>.</summary>
    public const string ActivitySourceName = "FirstSip.Plugins";

    /// <summary>The name of the package's meter.</summary>
    public const string MeterName = "FirstSip.Plugins";
}
