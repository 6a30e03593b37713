using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class SecretHandlingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GenerateAsync_WrongKeyEchoedByProvider_KeyInNoExceptionOrLog()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RequiredApiKey = "sk-the-right-one";
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server), logger: logger);

        var ex = await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(["one"], cancellationToken: Ct));

        // The fake echoes the presented key in its message, as some providers do; the client must redact it.
        Assert.Contains("Incorrect API key provided: ***", ex.ProviderMessage, StringComparison.Ordinal);
        AssertNoKey(ex.ToString());
        AssertNoKey(ex.ProviderMessage);
        AssertNoKey(logger.AllText());
        Assert.NotEmpty(logger.Entries);
    }

    [Theory]
    [InlineData(FakeFault.RateLimited)]
    [InlineData(FakeFault.InternalServerError)]
    [InlineData(FakeFault.HtmlErrorPage)]
    [InlineData(FakeFault.ConnectionReset)]
    [InlineData(FakeFault.MalformedJson)]
    [InlineData(FakeFault.BadRequest)]
    [InlineData(FakeFault.NaN)]
    [InlineData(FakeFault.Hang)]
    public async Task GenerateAsync_AnyFailure_KeyInNoExceptionOrLog(FakeFault fault)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.SetFaultRate(fault, 1);
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxAttempts = 2;
            o.RequestTimeout = FaultHandlingTests.TimeoutFor(fault);
        }), logger: logger);

        var ex = await Assert.ThrowsAnyAsync<EmbeddingKitException>(() => generator.GenerateAsync(["one", "two"], cancellationToken: Ct));

        AssertNoKey(ex.ToString());
        AssertNoKey(logger.AllText());
        Assert.NotEmpty(logger.Entries);
    }

    [Fact]
    public void ToString_Options_HidesKey()
    {
        var options = new OpenAICompatibleEmbeddingOptions { BaseUrl = new Uri("https://example.invalid/v1"), ApiKey = TestOptions.ApiKey, Model = "m" };

        var text = options.ToString();

        AssertNoKey(text);
        Assert.Contains("apiKey=***", text, StringComparison.Ordinal);
    }

    private static void AssertNoKey(string? text)
    {
        Assert.NotNull(text);
        Assert.DoesNotContain(TestOptions.ApiKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", text, StringComparison.Ordinal);
    }
}
