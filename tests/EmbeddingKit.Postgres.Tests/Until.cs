namespace EmbeddingKit.Postgres.Tests;

/// <summary>Waits for work that a <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> advance (or the
/// database) released to run on another thread. Only a bound against hanging: no test asserts on how long it takes.</summary>
internal static class Until
{
    public static async Task TrueAsync(Func<bool> condition, string what)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        while (!condition() && !limit.IsCancellationRequested)
        {
            await Task.Delay(5, CancellationToken.None);
        }

        Assert.True(condition(), what);
    }
}
