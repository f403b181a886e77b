using System.Net;
using FirstSip.Streams.Internal;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.Connections;

public sealed class RedisConnectionStringTests
{
    [Fact]
    public void Parse_RedisUrlWithUserPasswordAndDatabase_ReadsEveryPart()
    {
        var options = RedisConnectionString.Parse("redis://app:p%40ss@cache.example:6380/3");

        var endpoint = Assert.IsType<DnsEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal(("cache.example", 6380), (endpoint.Host, endpoint.Port));
        Assert.Equal("app", options.User);
        Assert.Equal("p@ss", options.Password);
        Assert.Equal(3, options.DefaultDatabase);
        Assert.False(options.Ssl);
    }

    [Fact]
    public void Parse_RedissUrlWithPasswordOnly_UsesTlsAndTheDefaultPort()
    {
        var options = RedisConnectionString.Parse("rediss://:secret@cache.example");

        var endpoint = Assert.IsType<DnsEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal(6379, endpoint.Port);
        Assert.True(options.Ssl);
        Assert.Equal("cache.example", options.SslHost);
        Assert.Null(options.User);
        Assert.Equal("secret", options.Password);
        Assert.Null(options.DefaultDatabase);
    }

    [Fact]
    public void Parse_IpAddressUrl_ReadsTheAddress()
    {
        var options = RedisConnectionString.Parse("redis://127.0.0.1:7000");

        Assert.Equal("127.0.0.1:7000", EndPointCollection.ToString(Assert.Single(options.EndPoints)));
    }

    [Fact]
    public void Parse_ConfigurationString_IsReadAsBefore()
    {
        var options = RedisConnectionString.Parse("localhost:6390,password=x,ssl=true");

        Assert.Equal("x", options.Password);
        Assert.True(options.Ssl);
    }

    [Theory]
    [InlineData("redis://host:6379/zero")]
    [InlineData("redis://")]
    public void Parse_InvalidUrl_ThrowsWithoutTheCredentials(string url)
    {
        var error = Assert.Throws<ArgumentException>(() => RedisConnectionString.Parse(url.Replace("host", "u:pw@host", StringComparison.Ordinal)));

        Assert.DoesNotContain("pw", error.Message, StringComparison.Ordinal);
    }
}
