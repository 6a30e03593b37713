namespace EmbeddingKit.Postgres.Search;

/// <summary>How a search ranks an entity stored in several chunks: every path fetches chunks, groups them by entity and
/// returns entities with their best chunk (the snippet). An entity that is not chunked has one chunk either way.</summary>
public enum ChunkGrouping
{
    /// <summary>The entity's nearest chunk decides (the default): a document is as relevant as its best passage.</summary>
    BestChunk = 0,

    /// <summary>The mean distance of the entity's two nearest chunks among those fetched (its one chunk counts twice when
    /// only one was fetched): favours documents where more than one passage matches over one lucky chunk.</summary>
    MeanOfTopTwo = 1,
}
