using System.Text;
using CsCheck;
using EmbeddingKit.OpenAI.Internal;
using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.Reliability.Tests.Fuzzing;

/// <summary>
/// The response parser fed random bytes and mutated valid bodies (CsCheck, seeded by CsCheck's own reproducible seeds):
/// it returns or throws an <see cref="EmbeddingKitException"/>, never anything else, within 5 s per case and with
/// allocation bounded by the input size.
/// </summary>
public sealed class ResponseParserFuzzTests
{
    private static readonly ProviderCallInfo Info = new("fuzz", "m", System.Net.HttpStatusCode.OK, "req-1");

    private static readonly byte[][] Seeds =
    [
        FakeResponseBodies.Create([[0.1f, 0.2f, 0.3f], [0.4f, 0.5f, 0.6f]], base64: false),
        FakeResponseBodies.Create([[0.1f, 0.2f, 0.3f], [0.4f, 0.5f, 0.6f]], base64: true),
        FakeResponseBodies.Create([[1e30f, -1e-30f, 3f]], base64: false, indexes: [1]),
        Encoding.UTF8.GetBytes("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":\"AACAPwAAAEA=\"}],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}"),
        Encoding.UTF8.GetBytes("{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}"),
    ];

    private static long s_cases;

    [Fact]
    public void Parse_RandomBytes_OnlyTypedExceptionsNoHangBoundedAllocation()
    {
        Gen.Byte.Array[0, 1_024].Sample(Check, iter: 3_000);
        Assert.True(Interlocked.Read(ref s_cases) >= 3_000);
    }

    [Fact]
    public void Parse_MutatedValidBodies_OnlyTypedExceptionsNoHangBoundedAllocation()
    {
        var mutation = Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Byte);
        Gen.Select(Gen.Int[0, Seeds.Length - 1], mutation.Array[1, 12])
            .Select(t => Mutate(Seeds[t.Item1], t.Item2))
            .Sample(Check, iter: 5_000);
        Assert.True(Interlocked.Read(ref s_cases) >= 5_000);
    }

    [Fact]
    public void Parse_DeeplyNestedAndHugeNumbers_TypedException()
    {
        var nested = Encoding.UTF8.GetBytes("{\"data\":" + new string('[', 100_000) + new string(']', 100_000) + "}");
        var huge = Encoding.UTF8.GetBytes("{\"data\":[{\"index\":99999999999999999999,\"embedding\":[" + new string('9', 100_000) + "]}]}");
        Check(nested);
        Check(huge);
        var destination = new float[]?[1];
        Assert.ThrowsAny<EmbeddingKitException>(() => EmbeddingResponseParser.Parse(nested, destination, null, Info));
    }

    private static byte[] Mutate(byte[] seed, (int Kind, int Position, byte Value)[] mutations)
    {
        var bytes = new List<byte>(seed);
        foreach (var (kind, position, value) in mutations)
        {
            var at = bytes.Count == 0 ? 0 : position % bytes.Count;
            switch (kind)
            {
                case 0 when bytes.Count > 0: bytes[at] = value; break;
                case 1: bytes.Insert(at, value); break;
                case 2 when bytes.Count > 0: bytes.RemoveAt(at); break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break; // truncate
            }
        }

        return [.. bytes];
    }

    private static void Check(byte[] body)
    {
        Interlocked.Increment(ref s_cases);
        var run = Task.Run(() =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            foreach (var dimensions in new int?[] { null, 3 })
            {
                var destination = new float[]?[2];
                try
                {
                    EmbeddingResponseParser.Parse(body, destination, dimensions, Info);
                }
                catch (EmbeddingKitException)
                {
                    // Typed: fine.
                }
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        });
        if (!run.Wait(TimeSpan.FromSeconds(5)))
        {
            throw new TimeoutException($"the parser did not return within 5 s on {Convert.ToBase64String(body)}");
        }

        var allocated = run.Result;
        if (allocated > 1_048_576 + (64L * body.Length))
        {
            throw new InvalidOperationException($"the parser allocated {allocated:N0} bytes for a {body.Length:N0}-byte body");
        }
    }
}
