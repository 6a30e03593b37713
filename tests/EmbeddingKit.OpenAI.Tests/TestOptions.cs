using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

/// <summary>Options for a client of the fake server with short retry delays, so that tests do not wait.</summary>
internal static class TestOptions
{
    public const string ApiKey = "sk-test-SECRET-4f9a8b7c6d5e";

    public static OpenAICompatibleEmbeddingOptions For(FakeEmbeddingServer server, Action<OpenAICompatibleEmbeddingOptions>? configure = null)
    {
        var options = new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = server.BaseUrl,
            ApiKey = ApiKey,
            Model = "fake-model",
            MaxAttempts = 4,
            BaseDelay = TimeSpan.FromMilliseconds(1),
            MaxDelay = TimeSpan.FromMilliseconds(10),
            MaxRetryAfter = TimeSpan.FromMilliseconds(50),
            RequestTimeout = TimeSpan.FromSeconds(30),
            ProviderName = "fake",
        };
        configure?.Invoke(options);
        return options;
    }

    public static string[] Texts(int count) =>
        Enumerable.Range(0, count).Select(i => $"document number {i} about topic {i % 7}").ToArray();
}
