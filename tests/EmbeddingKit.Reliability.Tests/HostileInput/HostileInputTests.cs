using System.Text;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Reliability.Tests.HostileInput;

/// <summary>Hostile input: each case gets a clear, typed error naming what was wrong, and nothing half-written.</summary>
public sealed class HostileInputTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("x\"; DROP TABLE pg_class; --")]
    [InlineData("a b")]
    [InlineData("")]
    [InlineData("nul\0schema")]
    [InlineData("s_0123456789012345678901234567890123456789012345678901234567890123")]
    public async Task Identifiers_InjectionOrInvalidName_RefusedWithArgumentExceptionBeforeAnySql(string schema)
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        Assert.Throws<ArgumentException>(() => new PostgresEmbeddingTaskQueue(dataSource, schema));
        Assert.Throws<ArgumentException>(() => new EmbeddingTable(schema, 16));
        var e = await Assert.ThrowsAsync<ArgumentException>(() => EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct));
        Assert.Equal("schema", e.ParamName);

        // The CLI names the option and exits 2 (usage) without touching the database (a NUL cannot be passed in argv).
        if (schema.Length > 0 && !schema.Contains('\0', StringComparison.Ordinal))
        {
            await using var cli = WorkerProcess.Start("status", ["status", "--connection", "Host=127.0.0.1;Port=1;Username=nobody", "--schema", schema, "--json"]);
            Assert.True(await cli.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 2, cli.Describe());
            Assert.Contains("--schema", cli.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Runtime_BatchWithHostileDocuments_BadOnesDeadWithPreciseErrorRestStored()
    {
        // A 10 MB document is cut to the model's token limit by the client (OverlongInputPolicy.Truncate); the request
        // timeout leaves room for tokenizing it on a loaded machine.
        await using var stack = await FaultStack.CreateAsync(server, o => { o.MaxTokensPerInput = 8_191; o.RequestTimeout = TimeSpan.FromSeconds(20); o.TotalTimeout = TimeSpan.FromSeconds(60); }, cancellationToken: Ct);
        var hostile = new Dictionary<int, (string Text, string Expected)>
        {
            [1] = ("text with a NUL \0 inside", "NUL"),
            [2] = ("", "empty"),
            [3] = (" \t\r\n ", "whitespace"),
            [4] = ("lone surrogate \ud800 here", ""),
            [5] = ("lone low surrogate \udc00", ""),
            [6] = ("'); DROP TABLE embeddingkit_embedding_tasks; --", ""),
        };
        await stack.SeedAsync(40, i => hostile.TryGetValue(i, out var h) ? h.Text : $"ordinary document {i}", Ct);

        // A 10 MB document: the client truncates or refuses it per its overlong-input policy; it must not take the batch down.
        stack.Documents.Texts["d7"] = string.Concat(Enumerable.Repeat("ten megabytes of words ", 10 * 1024 * 1024 / 23));
        Assert.True(await stack.DrainAsync(TimeSpan.FromSeconds(120), Ct));

        var dead = new Dictionary<string, string>();
        await using (var command = stack.DataSource.CreateCommand($"SELECT entity_id, error FROM \"{stack.Schema}\".embeddingkit_embedding_tasks_dead"))
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                dead[reader.GetString(0)] = reader.GetString(1);
            }
        }

        var stored = await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct);
        Figures.Report(nameof(Runtime_BatchWithHostileDocuments_BadOnesDeadWithPreciseErrorRestStored), new
        {
            documents = 40,
            stored,
            dead = dead.ToDictionary(d => d.Key, d => d.Value.Length > 200 ? d.Value[..200] : d.Value),
            ten_mb_document = dead.ContainsKey("d7") ? "dead" : "stored",
        });

        foreach (var (id, (_, expected)) in hostile.Where(h => h.Value.Expected.Length > 0))
        {
            Assert.True(dead.TryGetValue($"d{id}", out var error), $"d{id} is not dead");
            Assert.Contains($"'d{id}'", error, StringComparison.Ordinal);
            Assert.Contains(expected, error, StringComparison.OrdinalIgnoreCase);
        }

        // Everything else (ordinary documents, the SQL-looking text, the 10 MB document) is stored; nothing else died.
        Assert.Equal(40 - dead.Count, stored);
        Assert.Equal(3, dead.Count);

        // Lone surrogates are a documented replacement, not an error: the text is sent and hashed with U+FFFD in their
        // place (what UTF-8 encoding does), so the stored hash is that of the document and a re-run is a no-op.
        var states = await stack.Storage.GetStatesAsync(FaultStack.EntityType, FaultStack.Model, ["d4", "d5"], Ct);
        var model = stack.Runtime.Registry.Get(FaultStack.Model);
        Assert.Equal(ContentHash.Compute(model, hostile[4].Text), states["d4"].ContentHash);
        Assert.Equal(ContentHash.Compute(model, "lone surrogate \ufffd here"), states["d4"].ContentHash);
        await stack.Generator.GenerateAsync(["x \ud800 y"], cancellationToken: Ct);
        Assert.Contains("x \\uFFFD y", stack.Provider.LastRequestBody, StringComparison.Ordinal);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {tasks}", Ct));
    }

    [Fact]
    public async Task Storage_VectorOfWrongDimensions_TypedErrorAndNothingWritten()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        var good = new EmbeddingRecord(new EmbeddingTaskKey(FaultStack.EntityType, "ok", FaultStack.Model), new Half[FaultStack.Dimensions], new byte[32], 1);
        var bad = new EmbeddingRecord(new EmbeddingTaskKey(FaultStack.EntityType, "short", FaultStack.Model), new Half[FaultStack.Dimensions / 2], new byte[32], 1);
        var e = await Assert.ThrowsAnyAsync<Exception>(async () => await stack.Storage.UpsertAsync([good, bad], Ct));
        Figures.Report(nameof(Storage_VectorOfWrongDimensions_TypedErrorAndNothingWritten), new { exception = e.GetType().Name, message = e.Message });
        Assert.True(e is ArgumentException or InvalidVectorException, $"{e.GetType().Name}: {e.Message}");
        Assert.Contains("dimensions", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
    }

    [Fact]
    public async Task Ingest_MalformedLineOrLoneSurrogate_FileIngestsNothingAndErrorNamesLine()
    {
        await using var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(Ct), Ct);
        await schema.SeedAsync(1, Ct);
        var folder = Directory.CreateTempSubdirectory("embeddingkit-hostile-").FullName;
        try
        {
            var cases = new Dictionary<string, (string Content, string Expected)>
            {
                ["malformed.jsonl"] = ("{\"id\":\"a\",\"text\":\"fine\"}\n{\"id\":\"b\",\"text\":\"fine\"}\n{\"id\":\"c\",\"text\":\n{\"id\":\"d\",\"text\":\"fine\"}\n", ":3: "),
                ["surrogate.jsonl"] = ("{\"id\":\"a\",\"text\":\"fine\"}\n{\"id\":\"b\",\"text\":\"bad \\ud800 surrogate\"}\n", ":2: "),
                ["nul.jsonl"] = ("{\"id\":\"a\",\"text\":\"fine\"}\n{\"id\":\"b\",\"text\":\"bad \\u0000 nul\"}\n", ":2: "),
                ["array.jsonl"] = ("{\"id\":\"a\",\"text\":\"fine\"}\n[1,2,3]\n", ":2: "),
            };
            var messages = new Dictionary<string, string>();
            foreach (var (name, (content, expected)) in cases)
            {
                var path = Path.Combine(folder, name);
                await File.WriteAllTextAsync(path, content, new UTF8Encoding(false), Ct);
                await using var ingest = WorkerProcess.Start("ingest", ["ingest", path, "--entity-type", "hostile", .. schema.CommonArguments()]);
                var exit = await ingest.WaitForExitAsync(TimeSpan.FromSeconds(60));
                messages[name] = ingest.Error.Trim();
                Assert.True(exit == 2, $"{name}: exit {exit}: {ingest.Describe()}");
                Assert.Contains(expected, ingest.Error, StringComparison.Ordinal);
                Assert.Contains(name, ingest.Error, StringComparison.Ordinal);
                Assert.DoesNotContain("   at ", ingest.Error, StringComparison.Ordinal);
            }

            Figures.Report(nameof(Ingest_MalformedLineOrLoneSurrogate_FileIngestsNothingAndErrorNamesLine), messages);
            Assert.Equal(0, await schema.CountAsync("SELECT count(*) FROM {documents} WHERE entity_type = 'hostile'", Ct));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Cli_ModelNameWithSql_StoredAsPlainValue()
    {
        await using var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(Ct), Ct);
        const string Model = "m'); DROP TABLE embeddingkit_embedding_tasks; --\"";
        var file = Path.Combine(Path.GetTempPath(), $"embeddingkit-sqlmodel-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllTextAsync(file, "{\"id\":\"1\",\"text\":\"hello\"}\n{\"id\":\"2\",\"text\":\"world\"}\n", Ct);
        try
        {
            string[] common = ["--connection", schema.ConnectionString, "--schema", schema.Schema, "--provider", "openai-compatible", "--base-url", schema.Provider.BaseUrl.ToString(), "--model", Model, "--dimensions", "16"];
            await using (var ingest = WorkerProcess.Start("ingest", ["ingest", file, "--entity-type", "doc", .. common]))
            {
                Assert.True(await ingest.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, ingest.Describe());
            }

            await using (var work = WorkerProcess.Start("work", ["work", "--until-idle", .. common]))
            {
                Assert.True(await work.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, work.Describe());
            }

            await using var command = schema.DataSource.CreateCommand($"SELECT count(*) FROM {schema.Table.QualifiedName} WHERE model = $1");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Model });
            Assert.Equal(2L, await command.ExecuteScalarAsync(Ct));
            Assert.Equal(0, await schema.OutstandingAsync(Ct));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
