using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.TestInfrastructure;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Samples.Tests;

/// <summary>
/// Packs every src/ project once (<c>dotnet pack EmbeddingKit.Packages.slnf -c Release</c>, as a release would, from a
/// build of its own), checks
/// what each package carries, installs the CLI as a dotnet tool from the folder and runs it against the test database.
/// </summary>
public sealed partial class PackagingTests(PostgresServer server)
{
    private static readonly string[] Libraries = ["EmbeddingKit", "EmbeddingKit.OpenAI", "EmbeddingKit.Postgres", "EmbeddingKit.Hosting", "EmbeddingKit.Onnx"];
    private static readonly TimeSpan PackBound = TimeSpan.FromMinutes(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pack_EverySrcProject_PackagesWithReadmeDocsSymbolsAndAToolThatInstallsAndMigrates()
    {
        var root = RepositoryRoot.Find();
        var work = Directory.CreateTempSubdirectory("embeddingkit-pack-");
        try
        {
            // The pack builds everything it packs itself, in a folder of its own (--artifacts-path): Release assemblies
            // that an earlier command left in the tree (scripts/demo builds the CLI in Release without CI path mapping)
            // are neither reused nor overwritten. The folder is inside the repository (artifacts/ is ignored by git), so
            // that generated sources are mapped to /_/ like the others.
            var packages = Path.Combine(work.FullName, "packages");
            var build = Path.Combine(root, "artifacts", "packaging-test-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                var pack = await RunAsync("dotnet", ["pack", Path.Combine(root, "EmbeddingKit.Packages.slnf"), "-c", "Release", "-o", packages, "--artifacts-path", build, "-nologo", "-p:ContinuousIntegrationBuild=true"], root, PackBound);
                Assert.True(pack.ExitCode == 0, pack.Output);
            }
            finally
            {
                if (Directory.Exists(build))
                {
                    Directory.Delete(build, recursive: true);
                }
            }

            // One package and one symbol package per src/ project, all of one version.
            var cli = Directory.GetFiles(packages, "EmbeddingKit.Cli.*.nupkg").Single();
            var version = CliPackage().Match(Path.GetFileName(cli)).Groups[1].Value;
            foreach (var id in Libraries.Append("EmbeddingKit.Cli"))
            {
                Assert.True(File.Exists(Path.Combine(packages, $"{id}.{version}.nupkg")), $"{id} {version} packed");
                Assert.True(File.Exists(Path.Combine(packages, $"{id}.{version}.snupkg")), $"{id} {version} symbols packed");
            }

            foreach (var id in Libraries)
            {
                using var package = ZipFile.OpenRead(Path.Combine(packages, $"{id}.{version}.nupkg"));
                var entries = package.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
                Assert.Contains("README.md", entries);
                Assert.Contains($"lib/net10.0/{id}.dll", entries);
                Assert.Contains($"lib/net10.0/{id}.xml", entries);   // XML docs for IntelliSense
                var metadata = ReadNuspec(package, id);
                Assert.Equal("README.md", metadata.Element(metadata.Name.Namespace + "readme")?.Value);
                Assert.Equal("MIT", metadata.Element(metadata.Name.Namespace + "license")?.Value);
                Assert.False(string.IsNullOrWhiteSpace(metadata.Element(metadata.Name.Namespace + "description")?.Value));
                var commit = metadata.Element(metadata.Name.Namespace + "repository")?.Attribute("commit")?.Value;
                Assert.Matches("^[0-9a-f]{40}$", commit);           // SourceLink stamps the commit

                // Deterministic, CI-mapped build: the symbols name sources by /_/ paths, not this machine's.
                using var symbols = ZipFile.OpenRead(Path.Combine(packages, $"{id}.{version}.snupkg"));
                await using var pdb = new MemoryStream();
                await using (var stream = symbols.GetEntry($"lib/net10.0/{id}.pdb")!.Open())
                {
                    await stream.CopyToAsync(pdb, Ct);
                }

                pdb.Position = 0;
                using var provider = MetadataReaderProvider.FromPortablePdbStream(pdb);
                var reader = provider.GetMetadataReader();
                var documents = reader.Documents.Select(d => reader.GetString(reader.GetDocument(d).Name)).ToList();
                Assert.NotEmpty(documents);
                Assert.All(documents, d => Assert.StartsWith("/_/", d, StringComparison.Ordinal));
            }

            using (var tool = ZipFile.OpenRead(cli))
            {
                Assert.Contains(tool.Entries, e => e.FullName == "tools/net10.0/any/DotnetToolSettings.xml");
                Assert.Contains(tool.Entries, e => e.FullName == "README.md");
            }

            // Install the tool from the folder, with a private package cache so that no earlier 0.1.0 is reused.
            var tools = Path.Combine(work.FullName, "tools");
            var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(work.FullName, "nuget-cache") };
            var install = await RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", packages, "EmbeddingKit.Cli", "--version", version], work.FullName, PackBound, environment);
            Assert.True(install.ExitCode == 0, install.Output);

            var embeddingkit = Path.Combine(tools, "embeddingkit");
            var shown = await RunAsync(embeddingkit, ["--version"], work.FullName, SampleProcess.DefaultTimeout);
            Assert.True(shown.ExitCode == 0, shown.Output);
            Assert.StartsWith(version, shown.StandardOutput.Trim(), StringComparison.Ordinal);

            var schema = PostgresServer.NewSchemaName("packaged_cli");
            var migrate = await RunAsync(embeddingkit, ["migrate", "--connection", await server.GetConnectionStringAsync(Ct), "--schema", schema, "--json"], work.FullName, SampleProcess.DefaultTimeout);
            Assert.True(migrate.ExitCode == 0, migrate.Output);
            using var json = JsonDocument.Parse(migrate.StandardOutput);
            Assert.Equal(schema, json.RootElement.GetProperty("schema").GetString());
            Assert.Equal(EmbeddingKitMigrations.LatestVersion, json.RootElement.GetProperty("version").GetInt32());
            var dataSource = await server.GetDataSourceAsync(Ct);
            Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.LatestVersion), await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, schema, Ct));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static XElement ReadNuspec(ZipArchive package, string id)
    {
        using var stream = package.GetEntry($"{id}.nuspec")!.Open();
        var document = XDocument.Load(stream);
        return document.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static async Task<(int ExitCode, string StandardOutput, string Output)> RunAsync(
        string fileName, string[] arguments, string workingDirectory, TimeSpan bound, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        if (!info.Environment.ContainsKey("DOTNET_ROOT"))
        {
            // The installed tool's launcher finds the runtime through DOTNET_ROOT: the one running these tests.
            info.Environment["DOTNET_ROOT"] = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {bound.TotalMinutes} min");
        }

        var output = await stdout;
        return (process.ExitCode, output, $"$ {fileName} {string.Join(' ', arguments)}\n{output}\n{await stderr}");
    }

    [GeneratedRegex(@"^EmbeddingKit\.Cli\.(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.nupkg$")]
    private static partial Regex CliPackage();
}
