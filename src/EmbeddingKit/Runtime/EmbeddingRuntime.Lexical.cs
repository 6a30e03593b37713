using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Runtime;

/// <content>The lexical side of unchanged content.</content>
public sealed partial class EmbeddingRuntime
{
    /// <summary>Raises the generation of unchanged vectors and writes the lexical documents of those stored before the
    /// storage's lexical index existed (no provider call: the content is unchanged).</summary>
    private async ValueTask<int> TouchAsync(
        List<EmbeddingTask> unchanged, List<(EmbeddingTaskKey Key, long Generation, LexicalDocument Document)>? lexicalMissing, CancellationToken cancellationToken)
    {
        var touched = await _storage.TouchAsync([.. unchanged.Select(t => (t.Key, t.Generation))], cancellationToken).ConfigureAwait(false);
        if (lexicalMissing is { Count: > 0 })
        {
            await _storage.WriteLexicalAsync(lexicalMissing, cancellationToken).ConfigureAwait(false);
        }

        return touched;
    }
}
