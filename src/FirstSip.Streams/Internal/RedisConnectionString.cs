using System.Globalization;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// Reads a Redis address in either of the two forms FirstSip accepts: a StackExchange.Redis configuration string
/// (<c>localhost:6379,password=…</c>) or a Redis URL as the sidecar takes it
/// (<c>redis://[[user]:password@]host[:port][/db]</c>, <c>rediss://</c> for TLS).
/// </summary>
internal static class RedisConnectionString
{
    private const int DefaultPort = 6379;

    /// <summary>Whether <paramref name="value"/> is a <c>redis://</c> or <c>rediss://</c> URL.</summary>
    public static bool IsUrl(string value) =>
        value.StartsWith("redis://", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses either form.</summary>
    /// <exception cref="ArgumentException">The value is neither a valid URL nor a valid configuration string.</exception>
    public static ConfigurationOptions Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        return IsUrl(value) ? ParseUrl(value.Trim()) : ConfigurationOptions.Parse(value);
    }

    private static ConfigurationOptions ParseUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"'{Redact(value)}' is not a valid Redis URL (redis://[[user]:password@]host[:port][/db])", nameof(value));
        }

        var options = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
        options.EndPoints.Add(uri.DnsSafeHost, uri.Port > 0 ? uri.Port : DefaultPort);
        if (options.Ssl)
        {
            options.SslHost = uri.DnsSafeHost;
        }

        // user:password, :password (the default user) or user alone, as redis-py reads them.
        if (uri.UserInfo is { Length: > 0 } userInfo)
        {
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
            var password = colon < 0 ? null : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
            options.User = user.Length > 0 ? user : null;
            options.Password = string.IsNullOrEmpty(password) ? null : password;
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var database))
            {
                throw new ArgumentException($"'{Redact(value)}': the path of a Redis URL is a database number, not '{path}'", nameof(value));
            }

            options.DefaultDatabase = database;
        }

        return options;
    }

    /// <summary>The URL without its credentials, for messages.</summary>
    public static string Redact(string value)
    {
        var at = value.LastIndexOf('@');
        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? string.Concat(value.AsSpan(0, scheme + 3), "***@", value.AsSpan(at + 1)) : value;
    }
}
