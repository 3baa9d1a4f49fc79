using Serving.Workers.Engine;

namespace Serving.Workers.Tests.Support;

/// <summary>
/// The simulated engine with faults switched on by tests: long token pieces, NaN logits for one slot, batches refused
/// for having more than one chunk (as llama_decode's "no KV room"), truncates that throw, a decode that throws.
/// </summary>
internal sealed class FaultyEngine(SimulatedEngine inner) : IInferenceEngine
{
    public SimulatedEngine Inner => inner;

    /// <summary>Token pieces become this long (the real engine has pieces past 64 and 256 bytes).</summary>
    public int? PieceBytes { get; set; }

    /// <summary>Logits of chunks in this slot are all NaN.</summary>
    public int? NanSlot { get; set; }

    /// <summary>A decode with more than one chunk is refused (llama_decode returning 1).</summary>
    public bool RefuseMultiChunkBatches { get; set; }

    /// <summary>Truncating a slot to a non-zero length throws (seq_rm refused).</summary>
    public bool FailPartialTruncate { get; set; }

    /// <summary>The next decode throws: a fault of the engine itself.</summary>
    public bool ThrowOnDecode { get; set; }

    public int RefusedDecodes { get; private set; }

    private readonly List<int> _lastSlots = [];

    public EngineInfo Info => inner.Info;

    public int[] Tokenize(string text, bool addBos) => inner.Tokenize(text, addBos);

    public byte[] TokenBytes(int token) =>
        PieceBytes is { } n && inner.TokenBytes(token) is [var b] ? Enumerable.Repeat(b, n).ToArray() : inner.TokenBytes(token);

    public bool IsEndOfGeneration(int token) => inner.IsEndOfGeneration(token);

    public string ApplyChatTemplate(IReadOnlyList<ChatTurn> messages, bool addAssistantPrompt) => inner.ApplyChatTemplate(messages, addAssistantPrompt);

    public string AsPlainText(string content) => inner.AsPlainText(content);

    public ITokenConstraint? CreateGrammar(string gbnf, string? triggerWord, out string? error) => inner.CreateGrammar(gbnf, triggerWord, out error);

    public DecodeStatus Decode(IReadOnlyList<SequenceChunk> chunks)
    {
        if (ThrowOnDecode)
        {
            throw new InvalidOperationException("simulated engine failure");
        }

        if (RefuseMultiChunkBatches && chunks.Count > 1)
        {
            RefusedDecodes++;
            return DecodeStatus.NoKvSlot;
        }

        _lastSlots.Clear();
        _lastSlots.AddRange(chunks.Select(c => c.Slot));
        return inner.Decode(chunks);
    }

    public void CopyLogits(int chunkIndex, Span<float> destination)
    {
        inner.CopyLogits(chunkIndex, destination);
        if (NanSlot == _lastSlots[chunkIndex])
        {
            destination.Fill(float.NaN);
        }
    }

    public int SequenceLength(int slot) => inner.SequenceLength(slot);

    public void Truncate(int slot, int keepTokens)
    {
        if (FailPartialTruncate && keepTokens > 0 && keepTokens < inner.SequenceLength(slot))
        {
            throw new InvalidOperationException($"llama.cpp refused to truncate slot {slot} to {keepTokens} tokens");
        }

        inner.Truncate(slot, keepTokens);
    }

    public void CopySequence(int sourceSlot, int targetSlot) => inner.CopySequence(sourceSlot, targetSlot);

    public long SequenceStateSize(int slot) => inner.SequenceStateSize(slot);

    public long SaveSequence(int slot, Span<byte> destination) => inner.SaveSequence(slot, destination);

    public bool LoadSequence(int slot, ReadOnlySpan<byte> source) => inner.LoadSequence(slot, source);

    public void Dispose() => inner.Dispose();
}
