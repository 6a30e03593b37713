using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

/// <summary>Issue 12, item 15: queries are embedded as queries (the preset's query fields, the query prefix) by
/// <c>search</c> and <c>embed --query</c>; documents with the document prefix.</summary>
public sealed class QueryOptionsTests(PostgresServer server) : CliTest(server)
{
    private string[] Voyage => ["--provider", "voyage", "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--dimensions", "16", "--api-key", ApiKey];

    [Theory]
    [InlineData("voyage", "\"input_type\":\"query\"", "\"input_type\":\"document\"")]
    [InlineData("jina", "\"task\":\"retrieval.query\"", "\"task\":\"retrieval.passage\"")]
    public async Task Embed_PresetWithQueryFields_QueryAndDocumentSentDifferently(string preset, string queryField, string documentField)
    {
        Fake.Dimensions = 16; // voyage asks with output_dimension, which the fake does not read
        string[] provider = ["--provider", preset, "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--dimensions", "16", "--api-key", ApiKey];

        var asQuery = await Cli.RunAsync(["embed", "what is gimp", "--query", "--json", .. provider]);
        var queryBody = Fake.LastRequestBody;
        var asDocument = await Cli.RunAsync(["embed", "what is gimp", "--json", .. provider]);
        var documentBody = Fake.LastRequestBody;

        asQuery.AssertSucceeded();
        asDocument.AssertSucceeded();
        Assert.Contains(queryField, queryBody, StringComparison.Ordinal);
        Assert.DoesNotContain(documentField, queryBody, StringComparison.Ordinal);
        Assert.Contains(documentField, documentBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_QueryAndDocumentPrefixes_EachPutBeforeItsKind()
    {
        string[] prefixes = ["--query-prefix", "query: ", "--document-prefix", "passage: "];

        await RunFakeAsync(["embed", "gimp", "--query", .. prefixes]);
        var queryBody = Fake.LastRequestBody;
        await RunFakeAsync(["embed", "gimp", .. prefixes]);
        var documentBody = Fake.LastRequestBody;

        Assert.Contains("\"query: gimp\"", queryBody, StringComparison.Ordinal);
        Assert.Contains("\"passage: gimp\"", documentBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_VoyagePresetWithPrefixes_QueryEmbeddedAsQueryDocumentsAsDocuments()
    {
        Fake.Dimensions = 16;
        string[] prefixes = ["--query-prefix", "query: ", "--document-prefix", "passage: "];
        var file = WriteFile("docs.jsonl", Jsonl(("gimp", "GNU Image Manipulation Program"), ("vim", "Vi IMproved, a text editor")));
        (await RunAsync(["ingest", file, "--entity-type", "package", .. Voyage, .. prefixes])).AssertSucceeded();
        (await RunAsync(["work", "--until-idle", .. Voyage, .. prefixes])).AssertSucceeded();
        var documentBody = string.Join('\n', Fake.RequestBodies); // two loops may send the two documents apart

        var search = await RunAsync(["search", "image editor", "--entity-type", "package", "--json", .. Voyage, .. prefixes]);
        var queryBody = Fake.LastRequestBody;

        search.AssertSucceeded();
        Assert.Contains("\"passage: GNU Image Manipulation Program\"", documentBody, StringComparison.Ordinal);
        Assert.Contains("\"input_type\":\"document\"", documentBody, StringComparison.Ordinal);
        Assert.Contains("\"query: image editor\"", queryBody, StringComparison.Ordinal);
        Assert.Contains("\"input_type\":\"query\"", queryBody, StringComparison.Ordinal);
        AssertNoSecret(search);
    }
}
