using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Samples.Tests;

public sealed partial class MinimalApiSampleTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PostArticle_ThenSearch_ReturnsItAsTheTopHnswHitOnceTheWorkerEmbedsIt()
    {
        await using var provider = await FakeEmbeddingServer.StartAsync(Ct);
        var schema = PostgresServer.NewSchemaName("sample_api");
        await using var sample = SampleProcess.Start("MinimalApi", "MinimalApi", new Dictionary<string, string>
        {
            ["ConnectionStrings__EmbeddingKit"] = await server.GetConnectionStringAsync(Ct),
            ["EmbeddingKit__Schema"] = schema,
            ["EmbeddingKit__Embedder__BaseUrl"] = provider.BaseUrl.ToString(),
            ["EmbeddingKit__Embedder__Model"] = "fake-embed",
            ["EmbeddingKit__Embedder__Dimensions"] = "48",
            ["EmbeddingKit__Embedder__ApiKey"] = "sample-key",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });
        var output = await sample.WaitForOutputAsync(o => ListeningOn().IsMatch(o), "Kestrel listens");
        using var http = new HttpClient { BaseAddress = new Uri(ListeningOn().Match(output).Groups[1].Value) };

        var articles = new[]
        {
            ("Rotating API keys", "Rotate keys without downtime by accepting the old and the new key for a while."),
            ("Sizing HNSW indexes", "Memory for an HNSW graph grows with m and the number of vectors."),
            ("Rate limits", "Embedding providers answer 429 with Retry-After; defer the work instead of failing it."),
        };
        var ids = new List<long>();
        foreach (var (title, body) in articles)
        {
            using var created = await http.PostAsJsonAsync("/articles", new { title, body }, Ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            ids.Add((await created.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetInt64());
        }

        // The in-process worker embeds the articles through the provider: its exact text is the top hit of the default path
        // of an untuned 48-dimension model (plain HNSW below 1,024 dimensions). While another article waits for the
        // worker, the search fuses the vector list with the lexical fallback for it (scores 1/(60 + rank)): wait for the
        // plain vector answer, its cosine similarity.
        var document = articles[1].Item1 + "\n\n" + articles[1].Item2;
        SearchResult? embedded = null;
        await Eventually.HoldsAsync(
            async () => (embedded = await SearchAsync(http, document)) is { FallbackUsed: false, Hits: [{ Path: "hnsw", Score: > 0.5 } top, ..] } && top.Id == ids[1],
            $"the article is the top hnsw hit; last answer: {JsonSerializer.Serialize(embedded)}");

        Assert.Equal("fake-embed", embedded!.Model);
        Assert.InRange(embedded.Hits[0].Score, 0.99, 1.001);
        Assert.Equal("Sizing HNSW indexes", embedded.Hits[0].Title);
        Assert.True(provider.InputCount >= articles.Length + 1, $"the provider embedded the articles and the queries ({provider.InputCount} inputs)");
        Assert.Equal("Bearer sample-key", provider.LastAuthorization);

        // The library's lexical index (no host full-text code): a rare word finds its article lexically and fused. The
        // worker writes an article's lexical document with its vector, and the other two may come in a later batch.
        SearchResult lexical = null!, hybrid = null!;
        await Eventually.HoldsAsync(
            async () =>
            {
                lexical = await SearchAsync(http, "Retry-After", "lexical");
                hybrid = await SearchAsync(http, "Retry-After downtime", "hybrid");
                return lexical.Hits.Count > 0 && hybrid.Hits.Any(h => h.Id == ids[0]) && hybrid.Hits.Any(h => h.Id == ids[2]);
            },
            $"all three articles are indexed; last answers: {JsonSerializer.Serialize(lexical)} {JsonSerializer.Serialize(hybrid)}");
        Assert.Equal((ids[2], "lexical"), (lexical.Hits[0].Id, lexical.Hits[0].Path));
        Assert.Single(lexical.Hits);
        Assert.All(hybrid.Hits, h => Assert.Equal("hybrid", h.Path));
        Assert.Contains(hybrid.Hits, h => h.Id == ids[0]);
        Assert.Contains(hybrid.Hits, h => h.Id == ids[2]);
        using var badMode = await http.GetAsync("/search?q=keys&mode=fuzzy", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, badMode.StatusCode);

        using var invalid = await http.PostAsJsonAsync("/articles", new { title = "", body = "no title" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var exitCode = await sample.StopAsync();
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{sample.Output}");
    }

    private static async Task<SearchResult> SearchAsync(HttpClient http, string query, string? mode = null) =>
        (await http.GetFromJsonAsync<SearchResult>($"/search?q={Uri.EscapeDataString(query)}&k=5{(mode is null ? "" : "&mode=" + mode)}", JsonSerializerOptions.Web, Ct))!;

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();

    private sealed record SearchResult(string Model, bool FallbackUsed, List<Hit> Hits);

    private sealed record Hit(long Id, string Title, double Score, string? Model, string Path);
}
