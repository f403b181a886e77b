using System.Diagnostics;
using System.Security.Cryptography;
using FirstSip.Plugins.Internal.Secrets;

namespace FirstSip.Plugins.Tests.Secrets;

public sealed class SecretSealerTests
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public void Seal_ThenOpen_RoundTrips_AndHasTheWireFormat()
    {
        var runId = Guid.NewGuid().ToString("D");
        var sealedText = SecretSealer.Seal(Key, runId, new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-test-123" });

        Assert.StartsWith("v1.", sealedText);
        var bytes = Convert.FromBase64String(sealedText[3..]);
        Assert.True(bytes.Length >= 12 + 16);
        Assert.DoesNotContain("sk-test-123", sealedText);
        Assert.Equal("sk-test-123", SecretSealer.Open(Key, runId, sealedText)["OPENAI_API_KEY"]);
    }

    [Fact]
    public void Open_WithAnotherRunId_Fails()
    {
        var sealedText = SecretSealer.Seal(Key, Guid.NewGuid().ToString("D"), new Dictionary<string, string> { ["K"] = "v" });

        Assert.ThrowsAny<CryptographicException>(() => SecretSealer.Open(Key, Guid.NewGuid().ToString("D"), sealedText));
    }

    [Fact]
    public void Open_Tampered_Fails()
    {
        var runId = Guid.NewGuid().ToString("D");
        var sealedText = SecretSealer.Seal(Key, runId, new Dictionary<string, string> { ["K"] = "v" });
        var bytes = Convert.FromBase64String(sealedText[3..]);
        bytes[^1] ^= 1;

        Assert.ThrowsAny<CryptographicException>(() => SecretSealer.Open(Key, runId, "v1." + Convert.ToBase64String(bytes)));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("not base64!", false)]
    [InlineData("AAAA", false)]
    public void ParseKey_RejectsAnythingButThirtyTwoBytes(string? text, bool valid)
    {
        Assert.Equal(valid, SecretSealer.ParseKey(text) is not null);
        Assert.NotNull(SecretSealer.ParseKey(Convert.ToBase64String(Key)));
    }

    [Fact]
    public async Task Seal_OpensWithPythonCryptography_AsTheSidecarDoes()
    {
        var runId = Guid.NewGuid().ToString("D");
        var sealedText = SecretSealer.Seal(Key, runId, new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-from-dotnet" });
        const string script = """
            import base64, json, sys
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            key = base64.b64decode(sys.argv[1]); run_id = sys.argv[2]; text = sys.argv[3]
            assert text.startswith("v1.")
            raw = base64.b64decode(text[3:])
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], run_id.encode("utf-8"))
            print(json.loads(plain)["OPENAI_API_KEY"])
            """;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", script, Convert.ToBase64String(Key), runId, sealedText })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.True(process.ExitCode == 0, error);
        Assert.Equal("sk-from-dotnet", output.Trim());
    }
}
