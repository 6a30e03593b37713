using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using EmbeddingKit.Bench;

// Usage: dotnet run -c Release --project bench/EmbeddingKit.Bench -- <scenario> [--json]
var scenarios = typeof(Program).Assembly.GetTypes()
    .Where(t => typeof(IBenchScenario).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
    .Select(t => (IBenchScenario)Activator.CreateInstance(t)!)
    .OrderBy(s => s.Name, StringComparer.Ordinal)
    .ToDictionary(s => s.Name, StringComparer.Ordinal);

var json = args.Contains("--json");
var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
var help = args.Contains("--help") || args.Contains("-h");
if (help || positional.Count == 0 || !scenarios.TryGetValue(positional[0], out var scenario))
{
    // Asking for help runs nothing (a scenario may drop and reload its tables).
    var output = help ? Console.Out : Console.Error;
    output.WriteLine("usage: EmbeddingKit.Bench <scenario> [--json] [scenario options, see docs/benchmarks.md]");
    foreach (var s in scenarios.Values)
    {
        output.WriteLine($"  {s.Name,-10} {s.Description}");
    }

    return help ? 0 : 2;
}

// With --json, stdout carries only the JSON line; everything readable goes to stderr.
var log = json ? Console.Error : Console.Out;
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
await using var context = new BenchContext(log, args);
log.WriteLine($"scenario {scenario.Name}: {scenario.Description}");
var result = await scenario.RunAsync(context, cts.Token);

if (result.TableHeader is not null)
{
    var rows = new List<string[]> { result.TableHeader };
    rows.AddRange(result.Table);
    var widths = Enumerable.Range(0, result.TableHeader.Length).Select(i => rows.Max(r => i < r.Length ? r[i].Length : 0)).ToArray();
    foreach (var row in rows)
    {
        log.WriteLine(string.Join("  ", row.Select((c, i) => c.PadLeft(widths[i]))));
    }
}

foreach (var (name, value) in result.Metrics)
{
    log.WriteLine($"{name,-36} {value.ToString("G6", CultureInfo.InvariantCulture)}");
}

if (json)
{
    var environment = new Dictionary<string, object?>
    {
        ["machine"] = Environment.MachineName,
        ["processors"] = Environment.ProcessorCount,
        ["os"] = RuntimeInformation.OSDescription,
        ["runtime"] = RuntimeInformation.FrameworkDescription,
        ["commit"] = Environment.GetEnvironmentVariable("EMBEDDINGKIT_COMMIT"),
        ["date"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
    };
    foreach (var (k, v) in result.Notes)
    {
        environment[k] = v;
    }

    Console.Out.WriteLine(JsonSerializer.Serialize(new { scenario = scenario.Name, metrics = result.Metrics, environment }));
}

return 0;

internal sealed partial class Program
{
    private Program()
    {
    }

    internal static Assembly Assembly => typeof(Program).Assembly;
}
