using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Tasks;

namespace EmbeddingKit.Postgres.Tests;

public sealed class PostgresKeyHashTests
{
    [Fact]
    public void Compute_KnownText_IsFnv1a64OfTheUtf8Bytes()
    {
        // Computed independently (Python, FNV-1a 64 over UTF-8): the keys every earlier version derived.
        Assert.Equal(626347625090555768L, PostgresKeyHash.Compute("embeddingkit:migrate:app"));
        Assert.Equal(626347625090555768L, EmbeddingKitMigrations.AdvisoryLockKey("app"));
    }

    [Fact]
    public void ChannelFor_Schema_KeepsTheChannelNameOfEarlierVersions()
    {
        Assert.Equal("embeddingkit_e74fa719056a838c", PostgresEmbeddingTaskQueue.ChannelFor("app"));
    }
}
