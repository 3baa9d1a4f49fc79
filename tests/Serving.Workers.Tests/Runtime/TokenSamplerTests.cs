using Serving.Workers.Runtime;

namespace Serving.Workers.Tests.Runtime;

/// <summary>The sampler draws from the right distribution and cuts exactly, without sorting the vocabulary.</summary>
public sealed class TokenSamplerTests
{
    private static readonly float[] FourTokens = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];

    private static int[] Counts(SamplingOptions options, float[] logits, int draws = 20_000)
    {
        var sampler = new TokenSampler(options);
        var counts = new int[logits.Length];
        for (var i = 0; i < draws; i++)
        {
            counts[sampler.Sample(logits)]++;
        }

        return counts;
    }

    [Fact]
    public void NoCut_DrawsFollowTheSoftmax()
    {
        var counts = Counts(new SamplingOptions(1f, 1f, 42), FourTokens);
        double[] expected = [0.5, 0.3, 0.15, 0.05];
        for (var i = 0; i < 4; i++)
        {
            Assert.InRange(counts[i] / 20_000.0, expected[i] - 0.015, expected[i] + 0.015);
        }
    }

    [Theory]
    [InlineData(1f, 2, 0f, 2)]      // top-k 2
    [InlineData(0.8f, 0, 0f, 2)]    // nucleus 0.8 = {0.5, 0.3}
    [InlineData(0.81f, 0, 0f, 3)]   // just past it needs the third token
    [InlineData(1f, 0, 0.35f, 2)]   // min-p: 0.15 < 0.35 × 0.5
    public void Cuts_OnlyTheKeptTokensAreEverDrawn(float topP, int topK, float minP, int kept)
    {
        var counts = Counts(new SamplingOptions(1f, topP, 7, topK, minP), FourTokens);
        Assert.All(counts.Take(kept), c => Assert.True(c > 0));
        Assert.All(counts.Skip(kept), c => Assert.Equal(0, c));
    }

    [Fact]
    public void LargeVocabulary_NucleusEqualsAFullSortReference()
    {
        var random = new Random(3);
        var logits = Enumerable.Range(0, 32_000).Select(_ => (float)(random.NextDouble() * 12 - 6)).ToArray();
        const float temperature = 0.7f, topP = 0.9f;
        var probabilities = logits.Select(l => Math.Exp((l - logits.Max()) / temperature)).ToArray();
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => probabilities[i]).ToList();
        var target = topP * probabilities.Sum();
        var nucleus = new HashSet<int>();
        var mass = 0.0;
        foreach (var i in order.TakeWhile(_ => mass < target))
        {
            nucleus.Add(i);
            mass += probabilities[i];
        }

        var sampler = new TokenSampler(new SamplingOptions(temperature, topP, 11));
        var drawn = Enumerable.Range(0, 2000).Select(_ => sampler.Sample(logits)).ToList();
        Assert.All(drawn, token => Assert.Contains(token, nucleus));
        Assert.True(drawn.Distinct().Count() > 100, "draws should spread over the nucleus");
    }

    [Fact]
    public void NanLogits_NeverDrawn_AllNanRefused()
    {
        float[] logits = [float.NaN, 1f, float.NaN, 0.5f];
        Assert.Equal(1, TokenSampler.ArgMax(logits));
        var counts = Counts(new SamplingOptions(1f, 1f, 5), logits, 2000);
        Assert.Equal((0, 0), (counts[0], counts[2]));
        Assert.Throws<InvalidLogitsException>(() => new TokenSampler(new SamplingOptions(1f, 0.9f, 5)).Sample([float.NaN, float.NaN]));
        Assert.Throws<InvalidLogitsException>(() => TokenSampler.ArgMax([float.NaN]));
    }
}
