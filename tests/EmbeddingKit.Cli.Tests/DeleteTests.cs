using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

/// <summary><c>delete</c> and <c>ingest --sync</c>: documents go at once, their vectors through the queue.</summary>
public sealed class DeleteTests(PostgresServer server) : CliTest(server)
{
    private static readonly (string, string)[] Corpus =
    [
        ("pg", "PostgreSQL object-relational database server"),
        ("gimp", "GNU Image Manipulation Program for image editing"),
        ("vim", "Vi IMproved, a highly configurable text editor"),
    ];

    [Fact]
    public async Task Delete_WorkedDocumentAndUnknownId_DeletesTheDocumentItsVectorAfterWorkAndReportsTheUnknown()
    {
        var file = WriteFile("docs.jsonl", Jsonl(Corpus));
        Assert.Equal(3, (await RunAsync("ingest", file, "--entity-type", "package", "--json")).Json().GetProperty("enqueued").GetInt32());
        Assert.Equal(0, (await RunAsync("work", "--until-idle", "--json")).Json().GetProperty("outstanding").GetInt64());

        var result = await RunAsync("delete", "gimp", "nope", "--entity-type", "package", "--json");
        var deleted = result.Json();
        result.AssertSucceeded();
        Assert.Equal(["gimp"], deleted.GetProperty("deleted").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["nope"], deleted.GetProperty("unknown").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1, deleted.GetProperty("enqueued").GetInt32());
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_documents WHERE id = 'gimp'"));

        Assert.Equal(0, (await RunAsync("work", "--until-idle", "--json")).Json().GetProperty("outstanding").GetInt64());
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384 WHERE entity_id = 'gimp'"));
        Assert.Equal(2L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks_dead"));
    }

    [Fact]
    public async Task Ingest_SyncWithADocumentNoLongerInTheSource_DeletesItAndThenItsVector()
    {
        var file = WriteFile("docs.jsonl", Jsonl(Corpus));
        await RunAsync("ingest", file, "--entity-type", "package", "--json");
        await RunAsync("ingest", WriteFile("other.jsonl", Jsonl([("x", "another entity type")])), "--entity-type", "note", "--json");
        Assert.Equal(0, (await RunAsync("work", "--until-idle", "--json")).Json().GetProperty("outstanding").GetInt64());

        File.WriteAllText(file, Jsonl([.. Corpus.Where(c => c.Item1 != "pg")]));
        var synced = (await RunAsync("ingest", file, "--entity-type", "package", "--sync", "--json")).Json();

        Assert.Equal(["pg"], synced.GetProperty("deleted").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1, synced.GetProperty("deletions_enqueued").GetInt32());
        Assert.Equal(0, synced.GetProperty("changed").GetInt32());
        Assert.Equal(3L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_documents"));
        Assert.Equal(0, (await RunAsync("work", "--until-idle", "--json")).Json().GetProperty("outstanding").GetInt64());
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384 WHERE entity_id = 'pg'"));
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384 WHERE entity_type = 'note'"));
    }
}
