using EmbeddingKit.Postgres.Rollout;

namespace EmbeddingKit.Postgres.Tests.Architecture;

/// <summary>For the architecture scanner's own test: references a Rollout type only inside a method body.</summary>
internal static class BodyOnlyUser
{
    public static bool IsCoverageError(object error) => error is CoverageTooLowException;
}
