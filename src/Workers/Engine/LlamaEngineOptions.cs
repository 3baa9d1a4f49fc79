namespace Serving.Workers.Engine;

/// <summary>How to load a model into a llama.cpp context.</summary>
public sealed record LlamaEngineOptions
{
    public required string ModelPath { get; init; }

    /// <summary>Sequence slots (n_seq_max): how many sessions can be resident at once.</summary>
    public int SlotCount { get; init; } = 8;

    /// <summary>Tokens per slot. With non-unified KV each slot has its own hard limit.</summary>
    public int ContextPerSlot { get; init; } = 2048;

    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Tokens per llama_decode call (n_batch = n_ubatch).</summary>
    public int BatchTokens { get; init; } = 512;

    /// <summary>Folder of the llama.cpp libraries; null = SERVING_NATIVE_DIR or the nearest .native/linux-x64.</summary>
    public string? NativeDir { get; init; }

    /// <summary>A Jinja chat template file used instead of the GGUF's <c>tokenizer.chat_template</c>.</summary>
    public string? ChatTemplateFile { get; init; }

    /// <summary>The tool-call format (<c>hermes</c>, <c>llama3</c>, ...) instead of the one the template teaches.</summary>
    public string? ToolParser { get; init; }

    /// <summary>
    /// Fill the idle slots between decoding slots with a throwaway token so one batch is one pass over the weights
    /// (see <see cref="LlamaEngine.Decode"/>). Off only to measure what it saves.
    /// </summary>
    public bool BridgeSlotGaps { get; init; } = true;

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) yield return "ModelPath is required";
        if (SlotCount is < 1 or > 256) yield return $"SlotCount must be 1..256 (was {SlotCount})";
        if (ContextPerSlot is < 64 or > 131072) yield return $"ContextPerSlot must be 64..131072 (was {ContextPerSlot})";
        if (Threads is < 1 or > 256) yield return $"Threads must be 1..256 (was {Threads})";
        if (BatchTokens is < 16 or > 8192) yield return $"BatchTokens must be 16..8192 (was {BatchTokens})";
        if (ChatTemplateFile is { } file && !File.Exists(file)) yield return $"chat template file not found: {file}";
        if (ToolParser is { } parser && Protocol.ToolCalls.ToolCallParsers.ByName(parser) is null)
            yield return $"unknown tool parser '{parser}' (one of {string.Join(", ", Protocol.ToolCalls.ToolCallParsers.All.Select(p => p.Name))})";
    }
}
