using Serving.Workers.Engine;
using Serving.Workers.Tests.Support;

namespace Serving.Workers.Tests.Engine;

/// <summary>The real llama.cpp engine on the tiny generated model.</summary>
public sealed class LlamaEngineTests(TinyModelFixture model) : IClassFixture<TinyModelFixture>
{
    private static readonly string[] Prompts =
    [
        "the agent called a tool", "json result of the file", "user asked the assistant", "error in function call",
        "name and arguments", "system content is here", "for that with this", "tool result and error",
    ];

    /// <param name="scrambled">The chunks listed out of slot order (the engine sorts a batch by slot; each chunk
    /// must still get its own logits).</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decode_EightSequencesInOneBatch_SameGreedyContinuationsAsAlone(bool scrambled)
    {
        using var engine = model.Load(slots: 8);
        var prompts = Prompts.Select(p => engine.Tokenize(p, addBos: true)).ToArray();

        var batched = GreedyBatched(engine, prompts, steps: 12, scrambled ? [5, 2, 7, 0, 3, 6, 1, 4] : null);
        for (var i = 0; i < prompts.Length; i++)
        {
            using var alone = model.Load(slots: 1);
            var single = GreedyBatched(alone, [prompts[i]], steps: 12);
            Assert.Equal(single[0], batched[i]);
        }
    }

    /// <summary>
    /// Decodes in slots 0, 2 and 4 while slots 1 and 3 hold idle sessions (slot 3 full to its context): the engine
    /// bridges the idle slots with throwaway tokens, which must leave their length and contents exactly as they were,
    /// and the decoding sessions must continue as they would alone.
    /// </summary>
    [Fact]
    public void Decode_AroundIdleSlots_IdleSessionsUnchangedAndDecodesAsAlone()
    {
        const int context = 128;
        using var engine = model.Load(slots: 5, contextPerSlot: context);
        var idle = engine.Tokenize("the tool result of the agent is json with content", addBos: true);
        var full = Enumerable.Range(0, context).Select(i => 40 + i % 50).ToArray();
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(1, 0, idle, true), new SequenceChunk(3, 0, full, true)]));
        var expected1 = LogitsAfterProbe(engine, slot: 1, [idle[^1]]);
        engine.Truncate(3, context - 1);
        var expected3 = LogitsAfterProbe(engine, slot: 3, [full[^1]]);
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(3, context - 1, [full[^1]], false)]));

        var prompts = Prompts.Take(3).Select(p => engine.Tokenize(p, addBos: true)).ToArray();
        var decoded = GreedyBatched(engine, prompts, steps: 8, slots: [0, 2, 4]);

        Assert.Equal([idle.Length, context], new[] { engine.SequenceLength(1), engine.SequenceLength(3) });
        Assert.Equal(expected1, LogitsAfterProbe(engine, 1, [idle[^1]]));
        engine.Truncate(3, context - 1);
        Assert.Equal(expected3, LogitsAfterProbe(engine, 3, [full[^1]]));
        for (var i = 0; i < prompts.Length; i++)
        {
            using var alone = model.Load(slots: 1, contextPerSlot: context);
            Assert.Equal(GreedyBatched(alone, [prompts[i]], steps: 8)[0], decoded[i]);
        }
    }

    [Fact]
    public void ParkDropRestore_SameAndOtherSlot_BitIdenticalNextTokenLogits()
    {
        using var engine = model.Load(slots: 4);
        var prompt = engine.Tokenize("the tool result of the agent is json with content", addBos: true);
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(1, 0, prompt, true)]));
        var probe = new[] { prompt[^1] };
        var expected = LogitsAfterProbe(engine, slot: 1, probe);
        engine.Truncate(1, prompt.Length);

        var blob = new byte[engine.SequenceStateSize(1)];
        Assert.Equal(blob.Length, engine.SaveSequence(1, blob));
        engine.Truncate(1, 0);
        Assert.Equal(0, engine.SequenceLength(1));

        Assert.True(engine.LoadSequence(1, blob));
        Assert.Equal(prompt.Length, engine.SequenceLength(1));
        Assert.Equal(expected, LogitsAfterProbe(engine, 1, probe));

        Assert.True(engine.LoadSequence(3, blob));
        Assert.Equal(expected, LogitsAfterProbe(engine, 3, probe));
    }

    [Fact]
    public void Decode_BadSlotTokenOrPosition_ReturnsInvalidWithoutCrashing()
    {
        using var engine = model.Load(slots: 2);
        Assert.Equal(DecodeStatus.Invalid, engine.Decode([new SequenceChunk(5, 0, [1, 2], true)]));
        Assert.Equal(DecodeStatus.Invalid, engine.Decode([new SequenceChunk(0, 0, [engine.Info.VocabSize + 3], true)]));
        Assert.Equal(DecodeStatus.Invalid, engine.Decode([new SequenceChunk(0, 7, [1, 2], true)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.Truncate(9, 0));
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(0, 0, [1, 2], true)]));
    }

    [Fact]
    public void Load_MissingOrTruncatedModel_ThrowsEngineLoadExceptionNamingTheFile()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-model.gguf");
        var e1 = Assert.Throws<EngineLoadException>(() => LlamaEngine.Load(new LlamaEngineOptions { ModelPath = missing }));
        Assert.Contains("model file not found", e1.Message);
        Assert.Contains(missing, e1.Message);

        var truncated = Path.Combine(Path.GetTempPath(), $"truncated-{Guid.NewGuid():N}.gguf");
        var bytes = File.ReadAllBytes(model.ModelPath);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        try
        {
            var e2 = Assert.Throws<EngineLoadException>(() => LlamaEngine.Load(new LlamaEngineOptions { ModelPath = truncated }));
            Assert.Contains(truncated, e2.Message);
        }
        finally
        {
            File.Delete(truncated);
        }
    }

    [Fact]
    public void Text_ChatTemplateAndTokens_RoundTrip()
    {
        using var engine = model.Load(slots: 1);
        var prompt = engine.ApplyChatTemplate([new ChatTurn("system", "be brief"), new ChatTurn("user", "hello")], true);
        Assert.Equal("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", prompt);
        var tokens = engine.Tokenize("hello agent", addBos: false);
        var text = string.Concat(tokens.Select(t => System.Text.Encoding.UTF8.GetString(engine.TokenBytes(t))));
        Assert.Equal("hello agent", text.TrimStart());
        Assert.True(engine.IsEndOfGeneration(engine.Tokenize("<|im_end|>", false).Single()));
    }

    private static float[] LogitsAfterProbe(LlamaEngine engine, int slot, int[] probe)
    {
        var length = engine.SequenceLength(slot);
        Assert.Equal(DecodeStatus.Ok, engine.Decode([new SequenceChunk(slot, length, probe, true)]));
        var logits = new float[engine.Info.VocabSize];
        engine.CopyLogits(0, logits);
        engine.Truncate(slot, length);
        return logits;
    }

    private static List<int>[] GreedyBatched(LlamaEngine engine, int[][] prompts, int steps, int[]? slots = null)
    {
        var outputs = prompts.Select(_ => new List<int>()).ToArray();
        var chunks = prompts.Select((p, i) => new SequenceChunk(slots?[i] ?? i, 0, p, true)).ToList();
        var logits = new float[engine.Info.VocabSize];
        for (var step = 0; step < steps; step++)
        {
            Assert.Equal(DecodeStatus.Ok, engine.Decode(chunks));
            var next = new List<SequenceChunk>();
            for (var i = 0; i < chunks.Count; i++)
            {
                engine.CopyLogits(i, logits);
                var token = Array.IndexOf(logits, logits.Max());
                outputs[i].Add(token);
                next.Add(new SequenceChunk(chunks[i].Slot, chunks[i].StartPosition + chunks[i].Tokens.Length, [token], true));
            }

            chunks = next;
        }

        return outputs;
    }
}
