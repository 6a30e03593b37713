using System.Net;
using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class FaultHandlingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Only the hang needs a short attempt timeout; a generous one elsewhere keeps a loaded machine from adding attempts.
    internal static TimeSpan TimeoutFor(FakeFault fault) => fault == FakeFault.Hang ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(30);

    public static TheoryData<FakeFault> RetriedFaults =>
    [
        FakeFault.RateLimited, FakeFault.InternalServerError, FakeFault.ServiceUnavailable, FakeFault.RequestTimeout,
        FakeFault.HtmlErrorPage, FakeFault.ConnectionReset, FakeFault.Hang, FakeFault.TruncatedJson, FakeFault.MalformedJson,
        FakeFault.FewerItems, FakeFault.DuplicateIndex,
    ];

    [Theory]
    [MemberData(nameof(RetriedFaults))]
    public async Task GenerateAsync_TransientFaultOnce_RetriesAndSucceeds(FakeFault fault)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.InjectFault(fault);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.RequestTimeout = TimeoutFor(fault)));
        var texts = TestOptions.Texts(3);

        var result = await generator.GenerateAsync(texts, cancellationToken: Ct);

        Assert.Equal(2, server.RequestCount);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(texts[i], 384), result[i].Vector.ToArray());
        }
    }

    [Theory]
    [InlineData(FakeFault.RateLimited, typeof(EmbeddingRateLimitedException))]
    [InlineData(FakeFault.InternalServerError, typeof(EmbeddingTransientException))]
    [InlineData(FakeFault.ServiceUnavailable, typeof(EmbeddingTransientException))]
    [InlineData(FakeFault.RequestTimeout, typeof(EmbeddingTransientException))]
    [InlineData(FakeFault.HtmlErrorPage, typeof(EmbeddingTransientException))]
    [InlineData(FakeFault.ConnectionReset, typeof(EmbeddingTransientException))]
    [InlineData(FakeFault.Hang, typeof(EmbeddingTransientException))]
    [InlineData(FakeFault.TruncatedJson, typeof(EmbeddingResponseException))]
    [InlineData(FakeFault.MalformedJson, typeof(EmbeddingResponseException))]
    [InlineData(FakeFault.FewerItems, typeof(EmbeddingResponseException))]
    [InlineData(FakeFault.DuplicateIndex, typeof(EmbeddingResponseException))]
    public async Task GenerateAsync_TransientFaultPersists_ThrowsTypedExceptionAfterMaxAttempts(FakeFault fault, Type expected)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(fault, 1);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxAttempts = 3;
            o.RequestTimeout = TimeoutFor(fault);
        }));

        var ex = await Assert.ThrowsAnyAsync<EmbeddingProviderException>(() => generator.GenerateAsync(TestOptions.Texts(3), cancellationToken: Ct));

        Assert.IsType(expected, ex);
        Assert.True(ex.IsTransient);
        Assert.Equal("fake", ex.Provider);
        Assert.Equal(3, server.RequestCount);
    }

    [Theory]
    [InlineData(FakeFault.BadRequest, typeof(EmbeddingBadInputException), HttpStatusCode.BadRequest)]
    [InlineData(FakeFault.Unauthorized, typeof(EmbeddingConfigurationException), HttpStatusCode.Unauthorized)]
    [InlineData(FakeFault.Forbidden, typeof(EmbeddingConfigurationException), HttpStatusCode.Forbidden)]
    [InlineData(FakeFault.NotFound, typeof(EmbeddingConfigurationException), HttpStatusCode.NotFound)]
    public async Task GenerateAsync_ClientError_IsNotRetried(FakeFault fault, Type expected, HttpStatusCode status)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(fault, 1);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));

        var ex = await Assert.ThrowsAnyAsync<EmbeddingProviderException>(() => generator.GenerateAsync(TestOptions.Texts(3), cancellationToken: Ct));

        Assert.IsType(expected, ex);
        Assert.False(ex.IsTransient);
        Assert.Equal(status, ex.StatusCode);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_BadRequestNamingAnInput_ReportsItsPositionInTheCall()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxInputsPerRequest = 3;
            o.MaxConcurrentRequests = 1;
        }));

        // One request at a time, in order: the second batch holds inputs 3..5; the fake blames its input[1], that is input 4 of the call.
        server.InjectFault(FakeFault.None);
        server.InjectFault(FakeFault.BadRequest);
        var ex = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(TestOptions.Texts(6), cancellationToken: Ct));

        Assert.Equal(4, ex.InputIndex);
    }

    [Fact]
    public async Task GenerateAsync_OneBatchFails_CancelsTheOthersAndThrowsTheRealError()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(FakeFault.Forbidden, 1);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxInputsPerRequest = 2;
            o.MaxConcurrentRequests = 1;
        }));

        await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(TestOptions.Texts(20), cancellationToken: Ct));

        // Ten batches queued; after the first failure at most the one already admitted is sent.
        Assert.InRange(server.RequestCount, 1, 2);
    }

    [Fact]
    public async Task GenerateAsync_Redirect_NotFollowedAndReportedAsConfiguration()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(FakeFault.Redirect, 1);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));

        var ex = await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(["one"], cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.TemporaryRedirect, ex.StatusCode);
        Assert.Contains("redirects are not followed", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_WrongDimensions_ThrowsNonRetryableResponseException()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(FakeFault.WrongDimensions, 1);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Dimensions = 384));

        var ex = await Assert.ThrowsAsync<EmbeddingResponseException>(() => generator.GenerateAsync(TestOptions.Texts(2), cancellationToken: Ct));

        Assert.False(ex.Retryable);
        Assert.Contains("383 dimensions, 384 were requested", ex.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, ex.StatusCode);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_OverProviderBatchLimit_IsBadInputNotRetried()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.MaxBatchSize = 2;
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.MaxInputsPerRequest = 5));

        var ex = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(TestOptions.Texts(5), cancellationToken: Ct));

        Assert.Contains("Too many inputs", ex.ProviderMessage, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_HangsPastTotalTimeout_ThrowsTransient()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(FakeFault.Hang, 1);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.RequestTimeout = TimeSpan.FromSeconds(30);
            o.TotalTimeout = TimeSpan.FromMilliseconds(300);
        }));

        var ex = await Assert.ThrowsAsync<EmbeddingTransientException>(() => generator.GenerateAsync(["one"], cancellationToken: Ct));

        Assert.Contains("total timeout", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_FaultRate_SomeRequestsRetriedAllSucceed()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(FakeFault.ServiceUnavailable, 0.3);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxInputsPerRequest = 5;
            o.MaxAttempts = 10;
        }));
        var texts = TestOptions.Texts(100);

        var result = await generator.GenerateAsync(texts, cancellationToken: Ct);

        Assert.True(server.RequestCount > 20, $"expected retries beyond the 20 batches, saw {server.RequestCount} requests");
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(texts[i], 384), result[i].Vector.ToArray());
        }
    }
}
