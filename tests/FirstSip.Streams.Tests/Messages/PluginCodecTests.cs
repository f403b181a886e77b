using System.Text.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.Messages;

public sealed class PluginCodecTests
{
    private static readonly Guid RunId = Guid.Parse("3F2B8C1E-9A4D-4C6B-8F0E-2D7A1B5C9E40");

    [Theory]
    [InlineData("42", true)]
    [InlineData("-7", true)]
    [InlineData("0", true)]
    [InlineData("9223372036854775807", true)]
    [InlineData("9223372036854775808", false)]
    [InlineData("007", false)]
    [InlineData("+5", false)]
    [InlineData("-0", false)]
    [InlineData("u-7f3a", false)]
    [InlineData("", false)]
    [InlineData("1.5", false)]
    public void Encode_UserId_NumberOnlyWhenCanonicalInteger(string userId, bool asNumber)
    {
        var fields = PluginRequestCodec.Instance.Encode(new PluginRequest { PluginRunId = RunId, PluginName = "p", UserId = userId });
        var payload = JsonNode.Parse((string)fields.Single(f => f.Name == "payload").Value!)!;
        Assert.Equal(asNumber ? JsonValueKind.Number : JsonValueKind.String, payload["user_id"]!.GetValueKind());

        var decoded = PluginRequestCodec.Instance.Decode(fields);
        Assert.Equal(userId, decoded.Message!.UserId);
    }

    [Fact]
    public void Request_RoundTrip_KeepsEveryField()
    {
        var request = new PluginRequest
        {
            PluginRunId = RunId,
            PluginName = "daily-news-digest",
            UserId = "1",
            Settings = JsonDocument.Parse("{\"topics\":[\"café\",\"日本\"],\"n\":3}").RootElement,
            Attempt = 3,
            Deadline = DateTimeOffset.FromUnixTimeMilliseconds(1_771_469_823_123),
            QueueDeadline = DateTimeOffset.FromUnixTimeMilliseconds(1_771_469_800_000),
            TimeoutSeconds = 120,
            Secrets = "v1.abc=",
        };

        var fields = PluginRequestCodec.Instance.Encode(request);
        Assert.Equal("v1", (string?)fields.Single(f => f.Name == "schema_version").Value);
        var payload = (string)fields.Single(f => f.Name == "payload").Value!;
        Assert.Contains("\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\"", payload);
        Assert.Contains("café", payload);

        var decoded = PluginRequestCodec.Instance.Decode(fields).Message!;
        Assert.Equal(request.PluginRunId, decoded.PluginRunId);
        Assert.Equal(request.PluginName, decoded.PluginName);
        Assert.Equal(request.UserId, decoded.UserId);
        Assert.Equal(request.Attempt, decoded.Attempt);
        Assert.Equal(request.Deadline, decoded.Deadline);
        Assert.Equal(request.QueueDeadline, decoded.QueueDeadline);
        Assert.Equal("1771469800000", (string?)fields.Single(f => f.Name == "queue_deadline").Value);
        Assert.Equal(request.TimeoutSeconds, decoded.TimeoutSeconds);
        Assert.Equal(request.Secrets, decoded.Secrets);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(request.Settings.GetRawText()), JsonNode.Parse(decoded.Settings.GetRawText())));
    }

    [Fact]
    public void Request_DefaultSettings_IsEmptyObject()
    {
        var request = new PluginRequest { PluginRunId = RunId, PluginName = "p", UserId = "1" };
        Assert.Equal(JsonValueKind.Object, request.Settings.ValueKind);
        var payload = (string)PluginRequestCodec.Instance.Encode(request)[0].Value!;
        Assert.Contains("\"settings\":{}", payload);
    }

    [Fact]
    public void Result_RoundTrip_KeepsEveryField()
    {
        var result = new PluginResult
        {
            PluginRunId = RunId,
            Status = PluginResultStatus.Failed,
            Error = "boom",
            Retryable = true,
            FailureKind = PluginFailureKind.Failed,
            RetryDelay = TimeSpan.FromSeconds(90),
            Attempt = 2,
            DurationMs = 1234,
            Worker = "sidecar-a-1",
            LastStep = "review_task",
            StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_771_469_823_123),
        };

        var encoded = PluginResultCodec.Instance.Encode(result);
        Assert.Contains(encoded, f => f.Name == "started_at" && f.Value == "1771469823123");
        Assert.Contains("\"retry_delay_ms\":90000", (string)encoded[0].Value!);
        var decoded = PluginResultCodec.Instance.Decode(encoded);
        Assert.Equal(result, decoded.Message);
        Assert.Equal("3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40", decoded.Key);
    }

    [Theory]
    [InlineData("timed_out", PluginFailureKind.TimedOut)]
    [InlineData("not_started", PluginFailureKind.NotStarted)]
    [InlineData("cancelled", PluginFailureKind.Cancelled)]
    [InlineData("failed", PluginFailureKind.Failed)]
    [InlineData("something_new", null)]
    public void Result_FailureKind_IsReadFromThePayload_AndUnknownKindsAreIgnored(string kind, PluginFailureKind? expected)
    {
        var payload = $$"""{"plugin_run_id":"{{RunId}}","status":"failed","error":"x","kind":"{{kind}}","retry_delay_ms":-5}""";
        var decoded = PluginResultCodec.Instance.Decode([new("payload", payload), new("schema_version", "v1")]).Message!;
        Assert.Equal(expected, decoded.FailureKind);
        Assert.Null(decoded.RetryDelay);
    }

    [Theory]
    [InlineData("1771469823123", 1_771_469_823_123L)]
    [InlineData("-1", null)]
    [InlineData("99999999999999999", null)]
    [InlineData("soon", null)]
    public void Result_StartedAt_IsUnixMilliseconds_AndOutOfRangeValuesAreIgnored(string value, long? expected)
    {
        var payload = $$"""{"plugin_run_id":"{{RunId}}","status":"completed","output":"{}"}""";
        var decoded = PluginResultCodec.Instance.Decode([new("payload", payload), new("schema_version", "v1"), new("started_at", value)]).Message!;
        Assert.Equal(expected is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null, decoded.StartedAt);
    }

    [Fact]
    public void Event_RoundTrip_KeepsEveryField()
    {
        var e = new PluginEvent
        {
            PluginRunId = RunId,
            Kind = PluginEventKind.Step,
            Step = "research_task",
            Message = "done",
            At = DateTimeOffset.FromUnixTimeMilliseconds(1_771_469_823_123),
            Attempt = 1,
            Worker = "w",
        };

        Assert.Equal(e, PluginEventCodec.Instance.Decode(PluginEventCodec.Instance.Encode(e)).Message);
    }

    [Theory]
    [InlineData("{\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"kind\":\"exploded\"}", "unknown kind exploded")]
    [InlineData("{\"kind\":\"started\"}", "plugin_run_id is required")]
    [InlineData("\"text\"", "payload is not a JSON object")]
    public void Event_Malformed_IsPoison(string payload, string reason)
    {
        var decoded = PluginEventCodec.Instance.Decode([new("payload", payload), new("schema_version", "v1")]);
        Assert.True(decoded.IsPoison);
        Assert.Equal(reason, decoded.PoisonReason);
    }

    [Fact]
    public void Request_RunIdNotUuid_IsPoison()
    {
        var decoded = PluginRequestCodec.Instance.Decode([new("payload", "{\"plugin_run_id\":\"42\",\"plugin_name\":\"p\"}")]);
        Assert.Equal("plugin_run_id is required", decoded.PoisonReason);
        Assert.Null(decoded.Key);
    }

    [Fact]
    public void JsonCodec_RoundTripsAndClassifiesPoison()
    {
        var codec = new JsonStreamEntryCodec<Sample>();
        var fields = codec.Encode(new Sample("a", 1));
        Assert.Equal(new Sample("a", 1), codec.Decode(fields).Message);
        Assert.Equal("missing payload", codec.Decode([new("other", "x")]).PoisonReason);
        Assert.Equal("payload is not valid JSON", codec.Decode([new("payload", "{nope")]).PoisonReason);
        Assert.Equal("payload is null", codec.Decode([new("payload", "null")]).PoisonReason);
    }

    [Fact]
    public void Decode_FieldsAsBytes_AreAccepted()
    {
        var fields = PluginResultCodec.Instance.Encode(Results.Completed());
        var asBytes = fields.Select(f => new NameValueEntry(f.Name, (byte[])f.Value!)).ToArray();
        Assert.False(PluginResultCodec.Instance.Decode(asBytes).IsPoison);
    }

    [Theory]
    [InlineData("{\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"status\":\"completed\",\"output\":\"\\ud800\"}")]
    [InlineData("{\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"status\":\"completed\"} trailing")]
    [InlineData("{\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"status\":\"completed\",\"output\":[1,}")]
    [InlineData("")]
    public void Result_TextThatIsNotJson_IsPoison(string payload)
    {
        // A lone surrogate escape parses as JSON but cannot become a string: it is poison too, not an exception.
        var decoded = PluginResultCodec.Instance.Decode([new("payload", payload)]);
        Assert.Equal("payload is not valid JSON", decoded.PoisonReason);
    }

    [Fact]
    public void Result_InvalidUtf8InAString_IsPoison()
    {
        byte[] payload = [.. "{\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"status\":\"completed\",\"output\":\""u8, 0xff, .. "\"}"u8];
        var decoded = PluginResultCodec.Instance.Decode([new("payload", payload)]);
        Assert.Equal("payload is not valid JSON", decoded.PoisonReason);
        Assert.Equal("3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40", decoded.Key);
    }

    [Fact]
    public void Result_DuplicateProperty_LastOneWins()
    {
        var decoded = PluginResultCodec.Instance.Decode([new("payload", "{\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"status\":\"failed\",\"output\":{\"a\": [1, 2]},\"status\":\"completed\"}")]);
        Assert.Equal(PluginResultStatus.Completed, decoded.Message!.Status);
        Assert.Equal("{\"a\": [1, 2]}", decoded.Message.Output);
    }

    [Fact]
    public void Result_ManyUnknownProperties_StillDecoded()
    {
        // More top-level properties than the decoder notes up front: lookups fall back to scanning the text.
        var extra = string.Concat(Enumerable.Range(0, 40).Select(i => $"\"x{i}\":{{\"n\":[{i}]}},"));
        var payload = "{" + extra + "\"plugin_run_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"status\":\"completed\",\"output\":\"first\",\"output\":\"last\"}";
        var decoded = PluginResultCodec.Instance.Decode([new("payload", payload)]);
        Assert.Equal(PluginResultStatus.Completed, decoded.Message!.Status);
        Assert.Equal("last", decoded.Message.Output);
    }

    [Fact]
    public void Result_EscapedPropertyName_IsMatched()
    {
        var decoded = PluginResultCodec.Instance.Decode([new("payload", "{\"plugin\\u005frun_id\":\"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40\",\"st\\u0061tus\":\"failed\",\"error\":\"boom\"}")]);
        Assert.Equal(RunId, decoded.Message!.PluginRunId);
        Assert.Equal(PluginResultStatus.Failed, decoded.Message.Status);
        Assert.Equal("boom", decoded.Message.Error);
    }

    internal sealed record Sample(string Name, int Count);
}
