namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Token usage summed over the requests of one call (requests may finish concurrently).</summary>
internal sealed class UsageTotals
{
    private long _promptTokens;
    private long _totalTokens;

    public long PromptTokens => Interlocked.Read(ref _promptTokens);

    public long TotalTokens => Interlocked.Read(ref _totalTokens);

    public string? Model { get; private set; }

    public void Add(ParsedResponse response)
    {
        Interlocked.Add(ref _promptTokens, response.PromptTokens);
        Interlocked.Add(ref _totalTokens, response.TotalTokens);
        if (response.Model is not null)
        {
            Model = response.Model;
        }
    }
}
