using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Serving.Scheduler.Costs;

namespace Serving.Workers.Engine;

/// <summary>
/// A deterministic stand-in for llama.cpp, for fast scheduler and runtime tests and simulations (never for the real
/// path). Each slot keeps its token history; logits are a pure function of that history, so — like the real engine —
/// the same history gives the same next token and a restored slot continues exactly. Saved state is a real byte blob
/// of a realistic size. Compute is charged to virtual time through <see cref="EngineCostModel"/>: nothing sleeps.
/// </summary>
public sealed class SimulatedEngine : IInferenceEngine
{
    private const int Specials = 3; // 0 unknown, 1 BOS, 2 EOS; byte b is token b + 3
    private readonly List<int>[] _slots;
    private readonly EngineCostModel _costs;
    private readonly Action<TimeSpan>? _onCost;
    private readonly int _bytesPerToken;
    private float[][] _lastLogits = [];

    /// <param name="onCost">Receives the virtual duration of every decode, park and restore (e.g. to advance a FakeTimeProvider).</param>
    /// <param name="eosAfter">If set, the logits favour EOS once a slot's history is this long (to test end of generation).</param>
    public SimulatedEngine(int slots = 8, int contextPerSlot = 2048, int batchTokens = 512, EngineCostModel? costs = null,
        Action<TimeSpan>? onCost = null, int bytesPerToken = 64, int? eosAfter = null)
    {
        _slots = Enumerable.Range(0, slots).Select(_ => new List<int>()).ToArray();
        _costs = costs ?? new EngineCostModel();
        _onCost = onCost;
        _bytesPerToken = bytesPerToken;
        EosAfter = eosAfter;
        Info = new EngineInfo("simulated", 256 + Specials, slots, contextPerSlot, batchTokens, bytesPerToken, 1, 2);
    }

    public EngineInfo Info { get; }

    public int? EosAfter { get; set; }

    /// <summary>
    /// When set, generation follows this text byte by byte (then EOS): how tests make the "model" emit a tool call.
    /// The script starts right after the prompt (the last prefill of the slot).
    /// </summary>
    public string? Script { get; set; }

    /// <summary>The chat format to present (a tool-call family other than our Hermes default, for API tests).</summary>
    public Templates.ChatFormat Chat { get; init; } = Templates.ChatFormat.Builtin;

    /// <summary>Tokens the script is measured from: generation step i emits script byte i.</summary>
    private readonly Dictionary<int, int> _promptLength = [];

    /// <summary>Virtual time of the last decode.</summary>
    public TimeSpan LastStepCost { get; private set; }

    public int[] Tokenize(string text, bool addBos)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new List<int>(bytes.Length + 1);
        if (addBos)
        {
            tokens.Add(Info.BosToken);
        }

        tokens.AddRange(bytes.Select(b => b + Specials));
        return [.. tokens];
    }

    public byte[] TokenBytes(int token) => token >= Specials && token < Info.VocabSize ? [(byte)(token - Specials)] : [];

    public bool IsEndOfGeneration(int token) => token == Info.EosToken;

    /// <summary>No grammar engine here: constrained requests need llama.cpp (the worker answers 400).</summary>
    public ITokenConstraint? CreateGrammar(string gbnf, string? triggerWord, out string? error)
    {
        error = "this engine (simulated) cannot constrain output";
        return null;
    }

    /// <summary>Nothing to escape: this engine's tokenizer has no control tokens to parse.</summary>
    public string AsPlainText(string content) => content;

    public string ApplyChatTemplate(IReadOnlyList<ChatTurn> messages, bool addAssistantPrompt) =>
        string.Concat(messages.Select(m => $"<|{m.Role}|>{m.Content}\n")) + (addAssistantPrompt ? "<|assistant|>" : "");

    public DecodeStatus Decode(IReadOnlyList<SequenceChunk> chunks)
    {
        if (chunks.Sum(c => c.Tokens.Length) > Info.MaxBatchTokens
            || chunks.Any(c => c.Slot < 0 || c.Slot >= _slots.Length || c.StartPosition != _slots[c.Slot].Count
                               || c.StartPosition + c.Tokens.Length > Info.ContextPerSlot || c.Tokens.Any(t => (uint)t >= (uint)Info.VocabSize)))
        {
            return DecodeStatus.Invalid;
        }

        LastStepCost = _costs.Step(chunks.Select(c => (c.Tokens.Length, (long)c.StartPosition, c.Tokens.Length == 1)));
        _onCost?.Invoke(LastStepCost);
        _lastLogits = new float[chunks.Count][];
        for (var i = 0; i < chunks.Count; i++)
        {
            if (chunks[i].Tokens.Length > 1)
            {
                // A prefill: the scripted answer starts after it.
                _promptLength[chunks[i].Slot] = chunks[i].StartPosition + chunks[i].Tokens.Length;
            }

            _slots[chunks[i].Slot].AddRange(chunks[i].Tokens);
            if (chunks[i].WantLogits)
            {
                _lastLogits[i] = Script is null ? LogitsFor(_slots[chunks[i].Slot]) : ScriptedLogits(_slots[chunks[i].Slot].Count - _promptLength.GetValueOrDefault(chunks[i].Slot));
            }
        }

        return DecodeStatus.Ok;
    }

    public void CopyLogits(int chunkIndex, Span<float> destination) =>
        (_lastLogits[chunkIndex] ?? throw new InvalidOperationException($"chunk {chunkIndex} produced no logits")).CopyTo(destination);

    public int SequenceLength(int slot) => _slots[slot].Count;

    public void Truncate(int slot, int keepTokens)
    {
        var history = _slots[slot];
        if (keepTokens < history.Count)
        {
            history.RemoveRange(keepTokens, history.Count - keepTokens);
        }
    }

    public void CopySequence(int sourceSlot, int targetSlot) => _slots[targetSlot] = [.. _slots[sourceSlot]];

    public long SequenceStateSize(int slot) => 8 + (long)_slots[slot].Count * _bytesPerToken;

    /// <summary>Header (token count, checksum) + the tokens, padded to a realistic size per token.</summary>
    public long SaveSequence(int slot, Span<byte> destination)
    {
        var size = SequenceStateSize(slot);
        if (destination.Length < size)
        {
            return 0;
        }

        var tokens = MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_slots[slot]));
        BinaryPrimitives.WriteInt32LittleEndian(destination, _slots[slot].Count);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], XxHash32.HashToUInt32(tokens));
        destination[8..(int)size].Clear();
        tokens.CopyTo(destination[8..]);
        _onCost?.Invoke(_costs.Park(_slots[slot].Count));
        return size;
    }

    public bool LoadSequence(int slot, ReadOnlySpan<byte> source)
    {
        if (source.Length < 8)
        {
            return false;
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(source);
        if (count < 0 || 8 + (long)count * 4 > source.Length || count > Info.ContextPerSlot)
        {
            return false;
        }

        var tokens = source.Slice(8, count * 4);
        if (XxHash32.HashToUInt32(tokens) != BinaryPrimitives.ReadUInt32LittleEndian(source[4..]))
        {
            return false;
        }

        _slots[slot] = [.. MemoryMarshal.Cast<byte, int>(tokens).ToArray()];
        _onCost?.Invoke(_costs.Restore(count));
        return true;
    }

    public void Dispose()
    {
    }

    private float[] ScriptedLogits(int generated)
    {
        var logits = new float[Info.VocabSize];
        var bytes = Encoding.UTF8.GetBytes(Script!);
        logits[generated < bytes.Length ? bytes[generated] + Specials : Info.EosToken] = 1f;
        return logits;
    }

    /// <summary>Pseudo-logits seeded by the whole history: printable bytes only, EOS once past <see cref="EosAfter"/>.</summary>
    private float[] LogitsFor(List<int> history)
    {
        var logits = new float[Info.VocabSize];
        var seed = XxHash64.HashToUInt64(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(history)));
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        for (var b = 'a'; b <= 'z'; b++)
        {
            logits[b + Specials] = (float)random.NextDouble();
        }

        logits[' ' + Specials] = (float)random.NextDouble();
        if (EosAfter is { } n && history.Count >= n)
        {
            logits[Info.EosToken] = 10f;
        }

        return logits;
    }
}
