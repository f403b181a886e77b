using System.Text.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.Messages;

/// <summary>Every case of shared/protocol/v1/*.json, decoded by the codecs.</summary>
public sealed class ProtocolVectorTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in new[] { "requests.json", "results.json" })
        {
            foreach (var item in Load(file)["cases"]!.AsArray())
            {
                data.Add(file, item!["name"]!.GetValue<string>());
            }
        }

        return data;
    }

    [Fact]
    public void Vectors_AreFound()
    {
        Assert.True(File.Exists(Path.Combine(Paths.ProtocolDirectory, "requests.json")), Paths.ProtocolDirectory);
        Assert.True(Cases().Count >= 20);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_Vector_MatchesExpectation(string file, string name)
    {
        var vector = Load(file)["cases"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == name)!.AsObject();
        var fields = ToFields(vector["fields"]!.AsObject());
        if (file == "requests.json")
        {
            CheckRequest(vector, PluginRequestCodec.Instance.Decode(fields), fields);
        }
        else
        {
            CheckResult(vector, PluginResultCodec.Instance.Decode(fields));
        }
    }

    internal static JsonObject Load(string file)
        => JsonNode.Parse(File.ReadAllText(Path.Combine(Paths.ProtocolDirectory, file)))!.AsObject();

    internal static NameValueEntry[] ToFields(JsonObject fields)
        => [.. fields.Select(p => new NameValueEntry(p.Key, p.Value!.GetValue<string>()))];

    private static void CheckPoison<T>(JsonObject vector, StreamDecodeResult<T> decoded)
    {
        Assert.True(decoded.IsPoison, "expected poison");
        Assert.Equal(vector["poison"]!.GetValue<string>(), decoded.PoisonReason);
        Assert.Equal(vector["run_id"]?.GetValue<string>(), decoded.Key);
    }

    private static void CheckRequest(JsonObject vector, StreamDecodeResult<PluginRequest> decoded, NameValueEntry[] fields)
    {
        if (vector.ContainsKey("poison"))
        {
            CheckPoison(vector, decoded);
            return;
        }

        Assert.False(decoded.IsPoison, decoded.PoisonReason);
        var request = decoded.Message!;
        if (vector["expect"] is JsonObject expect)
        {
            Assert.Equal(Guid.Parse(expect["plugin_run_id"]!.GetValue<string>()), request.PluginRunId);
            Assert.Equal(expect["plugin_name"]!.GetValue<string>(), request.PluginName);
            var userId = expect["user_id"]!;
            Assert.Equal(userId.GetValueKind() == JsonValueKind.Number ? userId.ToJsonString() : userId.GetValue<string>(), request.UserId);
            Assert.True(JsonNode.DeepEquals(expect["settings"], JsonNode.Parse(request.Settings.GetRawText())), "settings differ");
            Assert.Equal(expect["attempt"]?.GetValue<int>() ?? 1, request.Attempt);
            if (expect["traceparent"] is { } traceParent)
            {
                // The codec leaves trace fields to the reader; it must not drop or reject them.
                Assert.Equal(traceParent.GetValue<string>(), (string?)fields.Single(f => f.Name == "traceparent").Value);
            }

            Assert.Equal(expect["plugin_run_id"]!.GetValue<string>(), decoded.Key);
        }
        else
        {
            // failed / poison_or_failed: a valid entry the worker fails (the plugin is not in its catalog).
            Assert.Equal(vector["run_id"]!.GetValue<string>(), request.PluginRunId.ToString());
        }
    }

    private static void CheckResult(JsonObject vector, StreamDecodeResult<PluginResult> decoded)
    {
        if (vector.ContainsKey("poison"))
        {
            CheckPoison(vector, decoded);
            return;
        }

        Assert.False(decoded.IsPoison, decoded.PoisonReason);
        var result = decoded.Message!;
        if (vector["expect"] is JsonObject expect)
        {
            Assert.Equal(Guid.Parse(expect["plugin_run_id"]!.GetValue<string>()), result.PluginRunId);
            Assert.Equal(expect["status"]!.GetValue<string>(), result.Status == PluginResultStatus.Completed ? "completed" : "failed");
            Assert.Equal(expect["output"]?.GetValue<string>(), result.Output);
            Assert.Equal(expect["error"]?.GetValue<string>(), result.Error);
        }
        else
        {
            Assert.True(vector["orphan"]!.GetValue<bool>());
            Assert.Equal(Guid.Empty, result.PluginRunId);
        }
    }
}
