namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>An error the CLI reports as one line with a non-zero exit code (no stack trace unless --verbose).</summary>
internal sealed class CliException : Exception
{
    public CliException(string message, int exitCode = 1, Exception? innerException = null)
        : base(message, innerException)
    {
        ExitCode = exitCode;
    }

    public CliException()
        : this("the command failed")
    {
    }

    public CliException(string message)
        : this(message, 1)
    {
    }

    public CliException(string message, Exception innerException)
        : this(message, 1, innerException)
    {
    }

    public int ExitCode { get; }
}
