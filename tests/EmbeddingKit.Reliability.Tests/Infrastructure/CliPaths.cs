using EmbeddingKit.TestInfrastructure;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>Where the CLI's build output is: the worker processes run it exactly as a user would.</summary>
public static class CliPaths
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>Gets the path of <c>EmbeddingKit.Cli.dll</c> built with the same configuration as this test assembly.</summary>
    public static string CliDll { get; } = Locate();

    private static string Locate()
    {
        var path = Path.Combine(RepositoryRoot.Find(), "src", "EmbeddingKit.Cli", "bin", Configuration, "net10.0", "EmbeddingKit.Cli.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The CLI is not built at {path}; build the test project (it references the CLI).", path);
    }
}
