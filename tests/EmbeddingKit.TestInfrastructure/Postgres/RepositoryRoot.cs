namespace EmbeddingKit.TestInfrastructure;

/// <summary>Finds the repository root (the folder holding EmbeddingKit.slnx) from the running binary's folder.</summary>
public static class RepositoryRoot
{
    /// <summary>Returns the repository root or throws when the binary does not run from inside the repository.</summary>
    public static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EmbeddingKit.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"EmbeddingKit.slnx not found above {AppContext.BaseDirectory}");
    }
}
