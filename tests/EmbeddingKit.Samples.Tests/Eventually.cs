namespace EmbeddingKit.Samples.Tests;

/// <summary>Polls a condition until it holds, within a generous bound (not a timing assertion: the bound only keeps a
/// broken sample from hanging the run).</summary>
public static class Eventually
{
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var bound = timeout ?? SampleProcess.DefaultTimeout;
        var deadline = DateTime.UtcNow + bound;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Not within {bound.TotalSeconds} s: {what}");
            }

            await Task.Delay(200);
        }
    }
}
