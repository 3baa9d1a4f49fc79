using Serving.Workers.Engine;
using Serving.Workers.Tests.Support;

namespace Serving.Workers.Tests.Engine;

public sealed class PrefixCopyTests(TinyModelFixture model) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void CopySequenceThenTruncate_SharedPrefix_ContinuesLikeARecompute()
    {
        using var engine = model.Load(slots: 3, contextPerSlot: 512);
        var shared = engine.Tokenize("the system prompt of the agent is json with content and the tool result", addBos: true);
        var donorTail = engine.Tokenize(" user asked for a file", addBos: false);
        var ownTail = engine.Tokenize(" error in the function call", addBos: false);
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(0, 0, [.. shared, .. donorTail], true)]));

        engine.CopySequence(0, 1);
        engine.Truncate(1, shared.Length);
        Assert.Equal(shared.Length, engine.SequenceLength(1));
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(1, shared.Length, ownTail, true)]));
        var viaCopy = new float[engine.Info.VocabSize];
        engine.CopyLogits(0, viaCopy);

        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(2, 0, [.. shared, .. ownTail], true)]));
        var recomputed = new float[engine.Info.VocabSize];
        engine.CopyLogits(0, recomputed);
        Assert.Equal(Array.IndexOf(recomputed, recomputed.Max()), Array.IndexOf(viaCopy, viaCopy.Max()));
        Assert.True(viaCopy.Zip(recomputed).Max(p => Math.Abs(p.First - p.Second)) < 1e-3);
    }
}
