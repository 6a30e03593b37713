using System.Text;

namespace EmbeddingKit.Resilience;

/// <summary>The token estimate of a text when no tokenizer is given: UTF-8 bytes / 3, rounded up. It errs high
/// (ordinary English text averages about four bytes per token); the usage a response reports corrects it.</summary>
internal static class TokenEstimate
{
    public static long Of(string text) => text is null ? 0 : (Encoding.UTF8.GetByteCount(text) + 2) / 3;
}
