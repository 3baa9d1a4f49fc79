namespace Serving.Workers.Engine;

/// <summary>
/// One model instance with a fixed number of sequence slots. Implemented by the llama.cpp engine and by the
/// simulated engine. Not thread-safe: exactly one thread (the worker's step loop) calls the compute and memory
/// operations. The text operations (<see cref="Tokenize"/>, <see cref="TokenBytes"/>, <see cref="ApplyChatTemplate"/>)
/// only read the immutable vocabulary and may be called from any thread.
/// </summary>
public interface IInferenceEngine : IDisposable
{
    EngineInfo Info { get; }

    // ---- text (thread-safe) ----
    int[] Tokenize(string text, bool addBos);
    /// <summary>The raw UTF-8 bytes of one token's piece (may be a partial UTF-8 sequence).</summary>
    byte[] TokenBytes(int token);
    bool IsEndOfGeneration(int token);
    /// <summary>
    /// Message content made safe to place in a template: text that spells a control token (<c>&lt;|im_start|&gt;</c>)
    /// stays text when the prompt is tokenized, so a user or a tool result cannot forge a role.
    /// </summary>
    string AsPlainText(string content);
    /// <summary>Renders chat messages into prompt text with llama.cpp's built-in template for this model.</summary>
    string ApplyChatTemplate(IReadOnlyList<ChatTurn> messages, bool addAssistantPrompt);
    /// <summary>The model's own chat template and tool-call format (<see cref="ChatFormat.Builtin"/> when it has none we can render).</summary>
    Templates.ChatFormat Chat => Templates.ChatFormat.Builtin;
    /// <summary>
    /// A GBNF grammar over this vocabulary (rule <c>root</c>), or null and the parser's message when the text does not
    /// parse. With a trigger word it waits: output is free until the word appears, constrained from there (the root
    /// starts with the word).
    /// </summary>
    ITokenConstraint? CreateGrammar(string gbnf, string? triggerWord, out string? error);

    // ---- compute (engine thread only) ----
    /// <summary>
    /// Runs one forward pass over all chunks (one <c>llama_decode</c>): prefill chunks and one-token decodes of many
    /// sequences together. Logits of chunks with <see cref="SequenceChunk.WantLogits"/> stay readable through
    /// <see cref="CopyLogits"/> until the next call.
    /// </summary>
    DecodeStatus Decode(IReadOnlyList<SequenceChunk> chunks);
    /// <summary>Copies the logits of the last token of chunk <paramref name="chunkIndex"/> of the last decode.</summary>
    void CopyLogits(int chunkIndex, Span<float> destination);

    // ---- KV memory (engine thread only) ----
    /// <summary>Number of tokens the slot currently holds (positions 0..n-1).</summary>
    int SequenceLength(int slot);
    /// <summary>Keeps the first <paramref name="keepTokens"/> tokens of the slot and drops the rest.</summary>
    void Truncate(int slot, int keepTokens);
    /// <summary>Copies the whole sequence of <paramref name="sourceSlot"/> into the empty <paramref name="targetSlot"/>.</summary>
    void CopySequence(int sourceSlot, int targetSlot);
    /// <summary>Bytes that <see cref="SaveSequence"/> will write for the slot.</summary>
    long SequenceStateSize(int slot);
    /// <summary>Writes the slot's KV state into <paramref name="destination"/>; returns the bytes written (0 = failure).</summary>
    long SaveSequence(int slot, Span<byte> destination);
    /// <summary>Loads a state written by <see cref="SaveSequence"/> into the empty slot; false if the engine refused it.</summary>
    bool LoadSequence(int slot, ReadOnlySpan<byte> source);
}

/// <summary>Static facts about a loaded engine.</summary>
public sealed record EngineInfo(
    string ModelName,
    int VocabSize,
    int SlotCount,
    int ContextPerSlot,
    int MaxBatchTokens,
    long KvBytesPerToken,
    int BosToken,
    int EosToken);

/// <summary>A role/content pair handed to the chat template.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>Tokens of one sequence slot, placed at consecutive positions starting at <see cref="StartPosition"/>.</summary>
public sealed record SequenceChunk(int Slot, int StartPosition, int[] Tokens, bool WantLogits);

public enum DecodeStatus
{
    Ok = 0,
    /// <summary>No KV room for the batch (llama_decode returned 1).</summary>
    NoKvSlot = 1,
    Aborted = 2,
    /// <summary>Invalid batch (bad position, token or slot); nothing was computed.</summary>
    Invalid = -1,
}
