using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

public sealed class IngestWorkSearchTests(PostgresServer server) : CliTest(server)
{
    private static readonly (string, string)[] Corpus =
    [
        ("pg", "PostgreSQL object-relational database server"),
        ("gimp", "GNU Image Manipulation Program for image editing"),
        ("django", "High-level Python web framework"),
        ("vim", "Vi IMproved, a highly configurable text editor"),
    ];

    [Fact]
    public async Task IngestWorkSearch_FakeProvider_FindsTheDocumentAndNeverPrintsTheKey()
    {
        var file = WriteFile("docs.jsonl", Jsonl(Corpus));

        var ingest = await RunFakeAsync("ingest", file, "--entity-type", "package", "--json");
        var ingested = ingest.Json();
        Assert.Equal(4, ingested.GetProperty("documents").GetInt32());
        Assert.Equal(4, ingested.GetProperty("enqueued").GetInt32());
        Assert.Equal("m", ingested.GetProperty("model").GetString());

        var work = await RunFakeAsync("work", "--until-idle", "--json");
        var worked = work.Json();
        Assert.Equal(4, worked.GetProperty("completed").GetInt64());
        Assert.Equal(0, worked.GetProperty("outstanding").GetInt64());
        Assert.False(worked.GetProperty("interrupted").GetBoolean());

        // The fake provider embeds by text, so the exact text is its own nearest neighbour.
        var search = await RunFakeAsync("search", "GNU Image Manipulation Program for image editing", "--entity-type", "package", "-k", "2", "--json");
        var found = search.Json();
        var hits = found.GetProperty("hits");
        Assert.Equal(2, hits.GetArrayLength());
        Assert.Equal("gimp", hits[0].GetProperty("id").GetString());
        Assert.Equal("m", hits[0].GetProperty("model").GetString());
        Assert.Equal("hnsw", hits[0].GetProperty("path").GetString()); // not tuned, below 1,024 dimensions
        Assert.True(hits[0].GetProperty("score").GetDouble() > 0.99);

        foreach (var result in new[] { ingest, work, search })
        {
            AssertNoSecret(result);
        }

        Assert.Equal(ApiKey, Fake.LastAuthorization?.Replace("Bearer ", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ingest_Unchanged_EnqueuesNothing_AndChanged_OnlyThose()
    {
        var file = WriteFile("docs.jsonl", Jsonl(Corpus));
        Assert.Equal(4, (await RunAsync("ingest", file, "--entity-type", "package", "--json")).Json().GetProperty("enqueued").GetInt32());
        Assert.Equal(0, (await RunAsync("work", "--until-idle", "--json")).Json().GetProperty("outstanding").GetInt64());

        var again = (await RunAsync("ingest", file, "--entity-type", "package", "--json")).Json();
        Assert.Equal(0, again.GetProperty("changed").GetInt32());
        Assert.Equal(0, again.GetProperty("enqueued").GetInt32());
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));

        File.WriteAllText(file, Jsonl([.. Corpus.Take(3), ("vim", "Vim, the ubiquitous text editor")]));
        var changed = (await RunAsync("ingest", file, "--entity-type", "package", "--json")).Json();
        Assert.Equal(1, changed.GetProperty("changed").GetInt32());
        Assert.Equal(1, changed.GetProperty("enqueued").GetInt32());
        Assert.Equal("vim", await ScalarAsync<string>("SELECT entity_id FROM {s}.embeddingkit_embedding_tasks"));
    }

    [Fact]
    public async Task Ingest_MalformedLine_NamesFileAndLine_AndIngestsNothingOfTheFile()
    {
        var file = WriteFile("bad.jsonl", Jsonl(Corpus[..2]) + "{\"id\": \"x\", \"text\": \n" + Jsonl(Corpus[2..]));

        var result = await RunAsync("ingest", file, "--entity-type", "package");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{file}:3:", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_documents"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));
    }

    [Fact]
    public async Task Ingest_LargeFileStreamedInChunks_MalformedLineAfterSeveralChunks_IngestsNothing()
    {
        // 12,000 records are written in chunks of 5,000 inside one transaction; the bad line comes after two chunks.
        var records = Enumerable.Range(0, 12_000).Select(i => ($"doc-{i}", $"document {i} about streaming ingest")).ToArray();
        var bad = WriteFile("big-bad.jsonl", Jsonl(records[..11_000]) + "{\"id\": \"x\", \"text\": \n" + Jsonl(records[11_000..]));
        var good = WriteFile("big-good.jsonl", Jsonl([.. records, ("doc-7", "the last record of an id wins")]));

        var failed = await RunAsync("ingest", bad, "--entity-type", "doc");
        var documentsAfterFailure = await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_documents");
        var tasksAfterFailure = await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks");
        var ingested = (await RunAsync("ingest", good, "--entity-type", "doc", "--json")).Json();

        Assert.Equal(2, failed.ExitCode);
        Assert.Contains($"{bad}:11001:", failed.Error, StringComparison.Ordinal);
        Assert.Equal(0L, documentsAfterFailure);
        Assert.Equal(0L, tasksAfterFailure);
        Assert.True(ingested.GetProperty("enqueued").GetInt32() >= 12_000);
        Assert.Equal(12_000L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_documents"));
        Assert.Equal(12_000L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));
        Assert.Equal("the last record of an id wins", await ScalarAsync<string>("SELECT text FROM {s}.embeddingkit_documents WHERE id = 'doc-7'"));
    }

    [Fact]
    public async Task Ingest_MissingText_NamesFileAndLine()
    {
        var file = WriteFile("notext.jsonl", Jsonl(Corpus[..1]) + "{\"id\": 7}\n");

        var result = await RunAsync("ingest", file, "--entity-type", "package");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{file}:2: \"text\" must be a string", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_CsvAndFolder_KeepsOtherColumnsAsMetadata()
    {
        WriteFile("folder/a.csv", "id,text,section\nfree,\"A \"\"quoted\"\", multi-line\ntext, with commas\",utils\n");
        WriteFile("folder/b.jsonl", Jsonl(Corpus[..1]));
        WriteFile("folder/notes/readme.md", "# Notes\nSome notes about the corpus.");

        var result = (await RunAsync("ingest", Path.Combine(Folder, "folder"), "--entity-type", "doc", "--json")).Json();

        Assert.Equal(3, result.GetProperty("files").GetArrayLength());
        Assert.Equal(3, result.GetProperty("documents").GetInt32());
        Assert.Equal("A \"quoted\", multi-line\ntext, with commas", await ScalarAsync<string>("SELECT text FROM {s}.embeddingkit_documents WHERE id = 'free'"));
        Assert.Equal("utils", await ScalarAsync<string>("SELECT metadata->>'section' FROM {s}.embeddingkit_documents WHERE id = 'free'"));
        Assert.Equal("test", await ScalarAsync<string>("SELECT metadata->>'source' FROM {s}.embeddingkit_documents WHERE id = 'pg'"));
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_documents WHERE id = 'notes/readme.md'"));
    }

    [Fact]
    public async Task Search_Text_PrintsHitsWithModelAndPath()
    {
        await RunAsync("ingest", WriteFile("docs.jsonl", Jsonl(Corpus)), "--entity-type", "package");
        await RunAsync("work", "--until-idle");

        var result = await RunAsync("search", "python web framework", "--entity-type", "package", "-k", "3");

        result.AssertSucceeded();
        var first = result.Out.Split('\n')[0];
        Assert.Contains("django", first, StringComparison.Ordinal);
        Assert.Contains("[hashing-384, hnsw]", first, StringComparison.Ordinal); // not tuned, below 1,024 dimensions
    }

    [Fact]
    public async Task Search_HybridAndLexical_JsonSaysWhichListsFoundEachHit()
    {
        await RunAsync("ingest", WriteFile("docs.jsonl", Jsonl(Corpus)), "--entity-type", "package");
        await RunAsync("work", "--until-idle");

        var hybrid = (await RunAsync("search", "configurable editor", "--entity-type", "package", "-k", "3", "--hybrid", "--json")).Json();
        var lexical = (await RunAsync("search", "configurable editor", "--entity-type", "package", "--lexical", "--json")).Json();
        var hostile = await RunAsync("search", "!!! & | ():* the", "--entity-type", "package", "--hybrid", "--json");
        var both = await RunAsync("search", "editor", "--entity-type", "package", "--hybrid", "--lexical");

        Assert.Equal("hybrid", hybrid.GetProperty("mode").GetString());
        var top = hybrid.GetProperty("hits")[0];
        Assert.Equal(("vim", "hybrid", 1), (top.GetProperty("id").GetString(), top.GetProperty("path").GetString(), top.GetProperty("lexical_rank").GetInt32()));
        Assert.Equal(1, top.GetProperty("vector_rank").GetInt32());
        Assert.Equal("hashing-384", hybrid.GetProperty("model").GetString());
        var only = Assert.Single(lexical.GetProperty("hits").EnumerateArray());
        Assert.Equal(("vim", "lexical"), (only.GetProperty("id").GetString(), only.GetProperty("path").GetString()));
        hostile.AssertSucceeded();
        Assert.All(hostile.Json().GetProperty("hits").EnumerateArray(), h => Assert.Equal(System.Text.Json.JsonValueKind.Null, h.GetProperty("lexical_rank").ValueKind));
        Assert.Equal(2, both.ExitCode);
    }

    [Fact]
    public async Task TuneQueries_LabelledQueries_MeasuresTheGridAndSavesTheFusionSettingSearchUses()
    {
        await RunAsync("ingest", WriteFile("docs.jsonl", Jsonl(Corpus)), "--entity-type", "package");
        await RunAsync("work", "--until-idle");
        var queries = WriteFile("queries.jsonl", """
            {"query": "configurable editor", "relevant": ["vim"]}

            {"query": "image editing", "relevant": ["gimp"]}
            {"query": "python web", "relevant": ["django"]}
            {"query": "relational database", "relevant": ["pg", "nope"]}
            """);

        var json = (await RunAsync("tune", "--entity-type", "package", "--queries", queries, "-k", "3", "--latency-budget-ms", "60000", "--json")).Json();
        var search = await RunAsync("search", "configurable editor", "--entity-type", "package", "-k", "3", "--hybrid", "--json");

        Assert.Equal(4, json.GetProperty("queries").GetInt32());
        Assert.Equal(1.0, json.GetProperty("lexical").GetProperty("mrr_at_k").GetDouble(), 6);
        Assert.Equal(0.875, json.GetProperty("lexical").GetProperty("recall_at_k").GetDouble(), 6); // "nope" is never found
        var rows = json.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(4 * ((4 * 5) + 5), rows.Count); // depth × (RRF k × lexical weight + relative score's lexical weights)
        Assert.All(rows, r => Assert.Equal("hybrid", r.GetProperty("search").GetString()));
        Assert.Equal(["reciprocal_rank", "relative_score"], rows.Select(r => r.GetProperty("fusion").GetString()).Distinct().Order(StringComparer.Ordinal));
        var recommendation = json.GetProperty("recommendation");
        Assert.True(recommendation.GetProperty("within_budget").GetBoolean());
        Assert.Equal(rows.Max(r => r.GetProperty("mrr_at_k").GetDouble()), recommendation.GetProperty("mrr_at_k").GetDouble(), 4);
        Assert.True(json.GetProperty("saved").GetBoolean());
        Assert.Equal(
            $"{recommendation.GetProperty("fusion").GetString()} {recommendation.GetProperty("rrf_k").GetInt32()} {recommendation.GetProperty("lexical_depth").GetInt32()}",
            await ScalarAsync<string>("SELECT fusion || ' ' || rrf_k || ' ' || lexical_depth FROM {s}.embeddingkit_hybrid_settings WHERE entity_type = 'package'"));
        Assert.Equal("vim", search.Json().GetProperty("hits")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Ingest_UnchangedDocumentsWithoutLexicalDocument_EnqueuesThemAndWorkFillsTheIndex()
    {
        var file = WriteFile("docs.jsonl", Jsonl(Corpus));
        await RunAsync("ingest", file, "--entity-type", "package");
        await RunAsync("work", "--until-idle");

        // A database from before the lexical index: vectors stored, no lexical documents.
        await ExecuteAsync("DELETE FROM {s}.embeddingkit_lexical_documents");
        var again = (await RunAsync("ingest", file, "--entity-type", "package", "--json")).Json();
        await RunAsync("work", "--until-idle");
        var lexical = (await RunAsync("search", "configurable editor", "--entity-type", "package", "--lexical", "--json")).Json();
        var third = (await RunAsync("ingest", file, "--entity-type", "package", "--json")).Json();

        Assert.Equal(0, again.GetProperty("changed").GetInt32());
        Assert.Equal(4, again.GetProperty("enqueued").GetInt32());
        Assert.Equal(4L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_lexical_documents"));
        Assert.Equal("vim", lexical.GetProperty("hits")[0].GetProperty("id").GetString());
        Assert.Equal(0, third.GetProperty("enqueued").GetInt32());
    }

    [Fact]
    public async Task TuneQueries_BadFile_ExitsTwoNamingTheLine()
    {
        var missing = await RunAsync("tune", "--entity-type", "package", "--queries", Path.Combine(Path.GetTempPath(), "no-such-queries.jsonl"));
        var bad = await RunAsync("tune", "--entity-type", "package", "--queries", WriteFile("bad.jsonl", "{\"query\": \"a\", \"relevant\": [\"x\"]}\n{\"query\": \"b\"}\n"));
        var notJson = await RunAsync("tune", "--entity-type", "package", "--queries", WriteFile("notjson.jsonl", "query: a\n"));

        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no such file", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("bad.jsonl:2", bad.Error, StringComparison.Ordinal);
        Assert.Equal(2, notJson.ExitCode);
        Assert.Contains("notjson.jsonl:1: not JSON", notJson.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Work_UntilIdle_WaitsOutTheLeaseOfACrashedWorker()
    {
        await RunAsync("ingest", WriteFile("docs.jsonl", Jsonl(Corpus)), "--entity-type", "package");

        // A worker claims everything with a short lease and dies.
        await ExecuteAsync("UPDATE {s}.embeddingkit_embedding_tasks SET lease_token = gen_random_uuid(), leased_by = 'crashed', run_at = now() + interval '2 seconds', attempts = 1");

        var worked = (await RunAsync("work", "--until-idle", "--json")).Json();

        Assert.Equal(4, worked.GetProperty("completed").GetInt64());
        Assert.Equal(0, worked.GetProperty("outstanding").GetInt64());
        Assert.Equal(4L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384"));
    }

    [Fact]
    public async Task Work_Json_IsTheOnlyThingOnStdout()
    {
        await RunAsync("ingest", WriteFile("docs.jsonl", Jsonl(Corpus)), "--entity-type", "package");

        var result = await RunAsync("work", "--until-idle", "--concurrency", "3", "--batch-size", "1", "--json");

        var json = result.Json();
        Assert.Equal(4, json.GetProperty("claimed").GetInt64());
        Assert.Equal("hashing-384", json.GetProperty("models")[0].GetString());
        Assert.Contains("working on hashing-384", result.Error, StringComparison.Ordinal);
    }
}
