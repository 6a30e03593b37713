using System.Collections.Concurrent;
using EmbeddingKit.Chunking;
using Microsoft.ML.Tokenizers;

namespace EmbeddingKit.Onnx.Internal;

/// <summary>Counts a local model's WordPiece tokens ([CLS] and [SEP] excluded), with the vocabulary loaded once per
/// process for each (vocabulary, casing) and shared; the ONNX graph is not loaded.</summary>
internal sealed class WordPieceTokenCounter(BertTokenizer tokenizer) : ITokenCounter
{
    private static readonly ConcurrentDictionary<(LocalModelFile Vocabulary, bool LowerCase), Lazy<WordPieceTokenCounter>> Counters = new();

    public int CountTokens(ReadOnlySpan<char> text) => tokenizer.CountTokens(text);

    public static WordPieceTokenCounter Get(LocalModel model)
    {
        var key = (model.Vocabulary, model.LowerCase);
        var lazy = Counters.GetOrAdd(key, k => new Lazy<WordPieceTokenCounter>(() => new WordPieceTokenCounter(ModelSession.LoadTokenizer(k.Vocabulary, k.LowerCase))));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Counters.TryRemove(new KeyValuePair<(LocalModelFile, bool), Lazy<WordPieceTokenCounter>>(key, lazy));
            throw;
        }
    }
}
