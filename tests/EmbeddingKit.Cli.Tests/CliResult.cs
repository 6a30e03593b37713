using System.Text.Json;

namespace EmbeddingKit.Cli.Tests;

/// <summary>What one in-process run of the CLI returned and printed.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    /// <summary>Parses stdout as exactly one JSON document (fails when anything else is there).</summary>
    public JsonElement Json()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}: {Error}");
        using var document = JsonDocument.Parse(Out);
        return document.RootElement.Clone();
    }

    public string All => Out + Error;

    /// <summary>Fails unless the command exited 0, with what it printed in the message (a failure in CI shows its cause).</summary>
    public CliResult AssertSucceeded()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}\nstderr: {Error}\nstdout: {Out}");
        return this;
    }
}
