using EmbeddingKit.Embedders;

namespace EmbeddingKit.Tests.Embedders;

public sealed class MultimodalContentTests
{
    [Fact]
    public void FromImage_ValidImage_KeepsBytesAndMediaType()
    {
        byte[] data = [1, 2, 3];

        var part = MultimodalContent.FromImage(data, "image/png");

        Assert.Equal(MultimodalContentKind.Image, part.Kind);
        Assert.Equal(data, part.Data.ToArray());
        Assert.Equal("image/png", part.MediaType);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("")]
    [InlineData("application/pdf")]
    public void FromImage_NotAnImageType_Throws(string mediaType)
    {
        Assert.ThrowsAny<ArgumentException>(() => MultimodalContent.FromImage(new byte[] { 1 }, mediaType));
    }

    [Fact]
    public void FromImage_NoBytes_Throws()
    {
        Assert.Throws<ArgumentException>(() => MultimodalContent.FromImage(ReadOnlyMemory<byte>.Empty, "image/png"));
    }

    [Fact]
    public void FromVideoFrames_EmptyFrame_ThrowsNamingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => MultimodalContent.FromVideoFrames([new byte[] { 1 }, ReadOnlyMemory<byte>.Empty], "image/jpeg"));

        Assert.Contains("Frame 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromText_Blank_Throws()
    {
        Assert.ThrowsAny<ArgumentException>(() => MultimodalContent.FromText(" "));
    }

    [Fact]
    public void MultimodalInput_NoParts_Throws()
    {
        Assert.Throws<ArgumentException>(() => new MultimodalInput(Array.Empty<MultimodalContent>()));
    }

    [Fact]
    public void MultimodalInput_Parts_KeptInOrder()
    {
        var text = MultimodalContent.FromText("caption");
        var image = MultimodalContent.FromImage(new byte[] { 1 }, "image/webp");

        var input = new MultimodalInput(text, image);

        Assert.Equal([text, image], input.Parts);
    }
}
