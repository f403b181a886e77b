using System.Text.RegularExpressions;

namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>
/// Makes an exception's text safe to store as a run's error: credentials in URLs (<c>https://user:password@host</c>) and
/// the values of query parameters that usually carry secrets (<c>?api_key=...</c>) become <c>[redacted]</c>, as the sidecar
/// does with the errors it reports.
/// </summary>
internal static partial class ErrorText
{
    public const string Mask = "[redacted]";

    [GeneratedRegex(@"(?<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@?#'""<>]+@", RegexOptions.CultureInvariant)]
    private static partial Regex UrlUserInfo();

    [GeneratedRegex(@"(?<name>[?&;](?:api_key|apikey|api-key|key|token|access_token|refresh_token|id_token|auth|secret|client_secret|password|passwd|pwd|sig|signature)=)[^&;#\s'""<>]+",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex SecretQueryParameter();

    public static string Redact(string text)
    {
        var withoutUserInfo = UrlUserInfo().Replace(text, m => m.Groups["scheme"].Value + Mask + "@");
        return SecretQueryParameter().Replace(withoutUserInfo, m => m.Groups["name"].Value + Mask);
    }
}
