namespace EmbeddingKit.Tests.Resilience;

/// <summary>Waits for a continuation that a <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> advance
/// released to run on another thread. Only a bound against hanging: no test asserts on how long it takes.</summary>
internal static class Until
{
    public static async Task TrueAsync(Func<bool> condition)
    {
        for (var i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }

        Assert.True(condition(), "the condition did not become true");
    }
}
