using System.Text;
using Serving.Workers.Protocol;
using Serving.Workers.Runtime;

namespace Serving.Workers.Tests.Runtime;

public sealed class TextAndSamplingTests
{
    [Fact]
    public void TextAssembler_CharacterSplitAcrossTokens_EmittedOnceComplete()
    {
        var text = new TextAssembler([]);
        var euro = Encoding.UTF8.GetBytes("€");
        Assert.Equal("", text.Append(euro.AsSpan(0, 1)));
        Assert.Equal("€", text.Append(euro.AsSpan(1)));
    }

    [Fact]
    public void TextAssembler_PossibleStopPrefix_HeldBackUntilDecided()
    {
        var text = new TextAssembler(["</end>"]);
        Assert.Equal("ab", text.Append("ab</e"u8));
        Assert.Equal("</ex", text.Append("x"u8));
        Assert.Equal("y", text.Append("y</end>tail"u8));
        Assert.True(text.StopHit);
        Assert.Equal("ab</exy", text.Text);
    }

    [Fact]
    public void TokenSampler_TemperatureZero_IsArgmaxAndSeededSamplingRepeats()
    {
        float[] logits = [0.1f, 3f, 0.2f, 2.9f];
        Assert.Equal(1, new TokenSampler(SamplingOptions.Greedy).Sample(logits));
        var a = new TokenSampler(new SamplingOptions(1f, 1f, 42));
        var b = new TokenSampler(new SamplingOptions(1f, 1f, 42));
        Assert.Equal(Enumerable.Range(0, 20).Select(_ => a.Sample(logits)), Enumerable.Range(0, 20).Select(_ => b.Sample(logits)));
        // top_p small keeps only the most likely token.
        var nucleus = new TokenSampler(new SamplingOptions(1f, 0.01f, 7));
        Assert.All(Enumerable.Range(0, 20), _ => Assert.Equal(1, nucleus.Sample(logits)));
    }

    [Fact]
    public void TextAssembler_ACharacterCutByTheEndOfTheTurn_BecomesAReplacementCharacter()
    {
        var text = new TextAssembler([]);
        var e = "é"u8.ToArray();
        Assert.Equal("caf", text.Append("caf"u8) + text.Append(e.AsSpan(0, 1)));
        Assert.Equal("\uFFFD", text.Flush());
        var whole = new TextAssembler([]);
        Assert.Equal("é", whole.Append(e.AsSpan(0, 1)) + whole.Append(e.AsSpan(1)) + whole.Flush());
    }
}
