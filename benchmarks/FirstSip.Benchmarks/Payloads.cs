using FirstSip.Streams;

namespace FirstSip.Benchmarks;

/// <summary>A result message whose encoded payload is about 250 bytes, like the baseline's XADD payload.</summary>
internal static class Payloads
{
    public static readonly PluginResult Result = new()
    {
        PluginRunId = Guid.Parse("3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40"),
        Status = PluginResultStatus.Completed,
        Output = "{\"summary\":\"Three stories moved markets today.\",\"sections\":[{\"title\":\"Markets\",\"content\":\"Stocks rose on strong earnings.\"}]}",
    };
}
