using System.Runtime.InteropServices;
using System.Text;
using EmbeddingKit.OpenAI.Internal;

namespace EmbeddingKit.OpenAI.Tests.Internal;

public sealed class EmbeddingResponseParserTests
{
    private static readonly ProviderCallInfo Info = new("fake", "m", System.Net.HttpStatusCode.OK, "req_1");

    [Fact]
    public void Parse_EscapedSlashInBase64_DecodesTheSameVector()
    {
        // Pick floats whose base64 contains '/', then escape it as JSON may.
        float[] vector = [BitConverter.Int32BitsToSingle(0x3FFFFFFF), -0.25f, 0.5f];
        var base64 = Convert.ToBase64String(MemoryMarshal.AsBytes(vector.AsSpan()));
        Assert.Contains('/', base64);
        var escaped = base64.Replace("/", "\\/", StringComparison.Ordinal);
        var json = "{\"data\":[{\"index\":0,\"embedding\":\"" + escaped + "\"}],\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}";
        var destination = new float[]?[1];

        var parsed = EmbeddingResponseParser.Parse(Encoding.UTF8.GetBytes(json), destination, null, Info);

        Assert.Equal(vector, destination[0]);
        Assert.Equal(4, parsed.PromptTokens);
        Assert.Equal(3, parsed.Dimensions);
    }

    [Fact]
    public void Parse_ItemsWithoutIndex_UsesPosition()
    {
        var json = """{"data":[{"embedding":[1,0]},{"embedding":[0,2]}],"model":"x"}""";
        var destination = new float[]?[2];

        var parsed = EmbeddingResponseParser.Parse(Encoding.UTF8.GetBytes(json), destination, null, Info);

        Assert.Equal([1f, 0f], destination[0]!);
        Assert.Equal([0f, 2f], destination[1]!);
        Assert.Equal("x", parsed.Model);
    }

    [Theory]
    [InlineData("""{"data":[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[1]}]}""", "others have")]
    [InlineData("""{"data":[{"index":0,"embedding":[1,0]},{"index":5,"embedding":[1,0]}]}""", "out of range")]
    [InlineData("""{"data":[{"index":0,"embedding":"AAA"}]}""", "invalid length")]
    [InlineData("""{"data":[{"index":0,"embedding":{"x":1}}]}""", "neither a base64 string nor an array")]
    [InlineData("""{"object":"list"}""", "no 'data'")]
    [InlineData("""[1,2]""", "not a JSON object")]
    public void Parse_InvalidResponse_ThrowsResponseExceptionSayingWhy(string json, string expected)
    {
        var destination = new float[]?[2];

        var ex = Assert.Throws<EmbeddingResponseException>(() => EmbeddingResponseParser.Parse(Encoding.UTF8.GetBytes(json), destination, null, Info));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal("req_1", ex.RequestId);
        Assert.Equal("fake", ex.Provider);
    }
}
