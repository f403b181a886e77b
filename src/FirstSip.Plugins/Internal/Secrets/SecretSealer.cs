using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FirstSip.Plugins.Internal.Secrets;

/// <summary>
/// Seals a run's secrets for the request's <c>secrets</c> field (docs/protocol.md "Sealed secrets"):
/// <c>"v1." + base64(nonce[12] || ciphertext || tag[16])</c>, AES-256-GCM, the associated data being the run id text
/// exactly as written in the payload, the plaintext a UTF-8 JSON object of string values.
/// </summary>
internal static class SecretSealer
{
    public const string Prefix = "v1.";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    /// <summary>Parses a base64 key of 32 bytes.</summary>
    /// <returns>The key, or <see langword="null"/> when the text is not base64 of 32 bytes.</returns>
    public static byte[]? ParseKey(string? base64)
    {
        if (string.IsNullOrWhiteSpace(base64))
        {
            return null;
        }

        var buffer = new byte[64];
        return Convert.TryFromBase64String(base64.Trim(), buffer, out var written) && written == 32 ? buffer[..32] : null;
    }

    public static string Seal(ReadOnlySpan<byte> key, string runIdText, IReadOnlyDictionary<string, string> secrets)
    {
        var plaintext = JsonSerializer.SerializeToUtf8Bytes(secrets);
        var associated = Encoding.UTF8.GetBytes(runIdText);
        var sealedBytes = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceSize, plaintext.Length), sealedBytes.AsSpan(NonceSize + plaintext.Length), associated);
        CryptographicOperations.ZeroMemory(plaintext);
        return Prefix + Convert.ToBase64String(sealedBytes);
    }

    /// <summary>Opens sealed secrets (what the sidecar does; used by tests and tools).</summary>
    /// <exception cref="CryptographicException">Wrong key, wrong run, or tampered text.</exception>
    /// <exception cref="FormatException">The text is not a sealed value.</exception>
    public static Dictionary<string, string> Open(ReadOnlySpan<byte> key, string runIdText, string sealedText)
    {
        if (!sealedText.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new FormatException("sealed secrets must start with v1.");
        }

        var bytes = Convert.FromBase64String(sealedText[Prefix.Length..]);
        if (bytes.Length < NonceSize + TagSize)
        {
            throw new FormatException("sealed secrets are too short");
        }

        var plaintext = new byte[bytes.Length - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(bytes.AsSpan(0, NonceSize), bytes.AsSpan(NonceSize, plaintext.Length), bytes.AsSpan(NonceSize + plaintext.Length), plaintext,
            Encoding.UTF8.GetBytes(runIdText));
        return JsonSerializer.Deserialize<Dictionary<string, string>>(plaintext) ?? [];
    }
}
