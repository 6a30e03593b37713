using System.Net;
using EmbeddingKit.Embedders;
using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class AssetFetcherTests
{
    private static readonly AssetFetcherOptions Local = new() { AllowPrivateNetworks = true, AllowHttp = true };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("fd00::1")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("64:ff9b::a00:1")]
    [InlineData("2001:db8::1")]
    public void IsNonPublic_InternalAddresses_True(string address) => Assert.True(AssetFetcher.IsNonPublic(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("192.169.0.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    public void IsNonPublic_PublicAddresses_False(string address) => Assert.False(AssetFetcher.IsNonPublic(IPAddress.Parse(address)), address);

    [Fact]
    public async Task FetchImageAsync_LoopbackByDefault_RefusedBeforeAnyRequest()
    {
        await using var server = await FakeAssetServer.StartAsync(Ct);
        using var fetcher = new AssetFetcher(new AssetFetcherOptions { AllowHttp = true });

        var literal = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("cat.png"), Ct));
        var byName = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(new Uri($"http://localhost:{server.BaseUrl.Port}/cat.png"), Ct));
        var ipv6 = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(new Uri($"http://[::1]:{server.BaseUrl.Port}/cat.png"), Ct));
        var decimalForm = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(new Uri($"http://2130706433:{server.BaseUrl.Port}/cat.png"), Ct));

        Assert.Contains("127.0.0.1 is not a public address", literal.Message, StringComparison.Ordinal);
        Assert.Contains("localhost resolves to", byName.Message, StringComparison.Ordinal);
        Assert.Contains("not a public address", byName.Message, StringComparison.Ordinal);
        Assert.False(literal.IsTransient);
        Assert.Contains("not a public address", ipv6.Message, StringComparison.Ordinal);
        Assert.False(ipv6.IsTransient);
        Assert.Contains("not a public address", decimalForm.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task FetchImageAsync_HttpByDefault_Refused()
    {
        using var fetcher = new AssetFetcher();

        var refused = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(new Uri("http://example.com/cat.png"), Ct));
        var file = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(new Uri("file:///etc/passwd"), Ct));

        Assert.Contains("scheme 'http' is not allowed", refused.Message, StringComparison.Ordinal);
        Assert.Contains("scheme 'file' is not allowed", file.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchImageAsync_Allowed_ReturnsTheImageWithItsMediaType()
    {
        await using var server = await FakeAssetServer.StartAsync(Ct);
        using var fetcher = new AssetFetcher(Local);

        var part = await fetcher.FetchImageAsync(server.Url("cat.png?signature=secret-token"), Ct);

        Assert.Equal(MultimodalContentKind.Image, part.Kind);
        Assert.Equal("image/png", part.MediaType);
        Assert.Equal(FakeAssetServer.CatPng, part.Data.ToArray());
    }

    [Fact]
    public async Task FetchImageAsync_OverTheCap_RefusedWithoutBufferingTheBody()
    {
        await using var server = await FakeAssetServer.StartAsync(Ct);
        using var fetcher = new AssetFetcher(new AssetFetcherOptions { AllowPrivateNetworks = true, AllowHttp = true, MaxBytes = 1024 * 1024 });

        var refused = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("big.png"), Ct));

        // The fetcher stopped reading past the cap and dropped the connection: the server could hand its socket only the
        // cap and what the sockets' buffers hold, not the 64 MB. (Counted where the server writes to the socket: the
        // process's allocations count every test running beside this one, and the handler's writes go on without an
        // error, discarded, after the client has gone.)
        for (var i = 0; i < 200 && !server.BigFinished; i++)
        {
            await Task.Delay(50, Ct);
        }

        Assert.Contains("over the limit of 1048576 bytes", refused.Message, StringComparison.Ordinal);
        Assert.True(server.BigFinished, "the server is still writing the body");
        Assert.True(server.BytesSent < 32L * 1024 * 1024, $"the server could send {server.BytesSent:N0} bytes of the 64 MB body");
    }

    [Fact]
    public async Task FetchImageAsync_NotAnImageOrHttpError_TypedErrorsWithoutTheQueryString()
    {
        await using var server = await FakeAssetServer.StartAsync(Ct);
        using var fetcher = new AssetFetcher(Local);

        var html = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("page.html?token=secret-token"), Ct));
        var missing = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("missing.png?token=secret-token"), Ct));
        var busy = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("busy.png"), Ct));

        Assert.Contains("'text/html', not an image", html.Message, StringComparison.Ordinal);
        Assert.Contains("answered 404", missing.Message, StringComparison.Ordinal);
        Assert.False(missing.IsTransient);
        Assert.Contains("answered 503", busy.Message, StringComparison.Ordinal);
        Assert.True(busy.IsTransient);
        Assert.All(new[] { html, missing }, e => Assert.DoesNotContain("secret-token", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task FetchImageAsync_Redirects_FollowedAndRecheckedAndBounded()
    {
        // Each redirect target goes through the same checks as the first URL (scheme here; addresses are checked on
        // every connection, as the loopback tests above show for names and literals).
        await using var server = await FakeAssetServer.StartAsync(Ct);
        using var fetcher = new AssetFetcher(Local);

        var followed = await fetcher.FetchImageAsync(server.Url("redirect?to=/cat.png"), Ct);
        var toFile = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("redirect?to=file:///etc/passwd"), Ct));
        var loop = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(server.Url("loop"), Ct));

        Assert.Equal(FakeAssetServer.CatPng, followed.Data.ToArray());
        Assert.Contains("scheme 'file' is not allowed", toFile.Message, StringComparison.Ordinal);
        Assert.Contains("redirected more than 3 time(s)", loop.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchImageAsync_UnresolvableHost_TransientError()
    {
        using var fetcher = new AssetFetcher();

        var error = await Assert.ThrowsAsync<AssetFetchException>(() => fetcher.FetchImageAsync(new Uri("https://no-such-host.invalid/cat.png"), Ct));

        Assert.True(error.IsTransient);
        Assert.Contains("no-such-host.invalid", error.Message, StringComparison.Ordinal);
    }
}
