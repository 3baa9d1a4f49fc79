using System.Runtime.InteropServices;
using System.Text;
using Serving.Workers.Native;

using Serving.Workers.Protocol.ToolCalls;
using Serving.Workers.Templates;

namespace Serving.Workers.Engine;

/// <summary>
/// The real engine: one llama.cpp model and context with <see cref="EngineInfo.SlotCount"/> sequence slots in
/// non-unified KV mode (each slot its own stream, so results do not depend on batch neighbours and a restored
/// sequence is bit-identical). Every call that could reach a GGML_ASSERT (which aborts the whole process) is
/// validated here first.
/// </summary>
public sealed unsafe class LlamaEngine : IInferenceEngine
{
    private readonly nint _model;
    private readonly nint _context;
    private readonly nint _vocab;
    /// <summary>Texts of the control and unknown tokens (what special-token parsing turns into tokens), longest first.</summary>
    private readonly Lazy<string[]> _controlTexts;

    /// <summary>Every token's bytes for <see cref="Utf8Guard"/>: built on the first constrained request, then shared.</summary>
    private readonly Lazy<Utf8TokenTable> _utf8Tokens;
    private readonly nint _memory;
    private readonly string _template;

    /// <summary>Control tokens that spell the model's tool-call markers ([TOOL_CALLS]): shown in generated text so calls can be parsed.</summary>
    private readonly HashSet<int> _visibleMarkers;
    private LlamaBatch _batch;
    private readonly int[] _outputIndexOfChunk;
    private readonly int[] _chunkAtSlot;
    private readonly int[] _fillerSlots;
    private readonly int _fillerToken;
    /// <summary>Off for recurrent and hybrid models: their state cannot drop a token again.</summary>
    private readonly bool _bridgeSlotGaps;
    private readonly int[] _lengths;
    private bool _disposed;

    private LlamaEngine(nint model, nint context, LlamaEngineOptions options)
    {
        _model = model;
        _context = context;
        _vocab = LlamaApi.llama_model_get_vocab(model);
        _controlTexts = new Lazy<string[]>(() => Enumerable.Range(0, LlamaApi.llama_vocab_n_tokens(_vocab))
            .Where(t => (LlamaApi.llama_vocab_get_attr(_vocab, t) & (1 | 8)) != 0)
            .Select(t => Marshal.PtrToStringUTF8((nint)LlamaApi.llama_vocab_get_text(_vocab, t)) ?? "")
            .Where(text => text.Length > 1).Distinct().OrderByDescending(text => text.Length).ToArray());
        _utf8Tokens = new Lazy<Utf8TokenTable>(() => new Utf8TokenTable(LlamaApi.llama_vocab_n_tokens(_vocab), TokenBytes));
        _memory = LlamaApi.llama_get_memory(context);
        var slots = (int)LlamaApi.llama_n_seq_max(context);
        var batchTokens = (int)LlamaApi.llama_n_batch(context);
        _batch = LlamaApi.llama_batch_init(batchTokens, 0, 1);
        _outputIndexOfChunk = new int[batchTokens];
        _chunkAtSlot = new int[slots];
        _fillerSlots = new int[slots];
        _lengths = new int[slots];
        _bridgeSlotGaps = options.BridgeSlotGaps && !LlamaApi.llama_model_is_recurrent(model) && !LlamaApi.llama_model_is_hybrid(model);
        var ggufTemplate = ReadTemplate(model);
        _template = ggufTemplate ?? "chatml";
        Chat = LoadChatFormat(options, ggufTemplate);
        _visibleMarkers = MarkerTokens(Chat.ToolCalls.Markers);
        var nLayer = LlamaApi.llama_model_n_layer(model);
        var nEmbd = LlamaApi.llama_model_n_embd(model);
        var kvDim = nEmbd / LlamaApi.llama_model_n_head(model) * LlamaApi.llama_model_n_head_kv(model);
        Info = new EngineInfo(
            ModelName: Path.GetFileNameWithoutExtension(options.ModelPath),
            VocabSize: LlamaApi.llama_vocab_n_tokens(_vocab),
            SlotCount: slots,
            ContextPerSlot: (int)LlamaApi.llama_n_ctx_seq(context),
            MaxBatchTokens: batchTokens,
            KvBytesPerToken: 2L * nLayer * kvDim * 2,
            BosToken: LlamaApi.llama_vocab_bos(_vocab),
            EosToken: LlamaApi.llama_vocab_eos(_vocab));
        _fillerToken = Info.BosToken is var bos && bos >= 0 && bos < Info.VocabSize ? bos : 0;
    }

    public EngineInfo Info { get; }

    /// <exception cref="EngineLoadException">Bad options, missing/corrupt model, missing native libraries.</exception>
    public static LlamaEngine Load(LlamaEngineOptions options)
    {
        var errors = options.Validate().ToList();
        if (errors.Count > 0)
        {
            throw new EngineLoadException("invalid engine options: " + string.Join("; ", errors));
        }

        CheckModelFile(options.ModelPath);
        LlamaNative.Initialize(options.NativeDir);
        var modelParams = LlamaApi.llama_model_default_params();
        var model = LlamaApi.llama_model_load_from_file(options.ModelPath, modelParams);
        if (model == 0)
        {
            throw new EngineLoadException($"llama.cpp could not load the model {options.ModelPath} (corrupt or unsupported GGUF; see the log above)");
        }

        var p = LlamaApi.llama_context_default_params();
        p.NSeqMax = (uint)options.SlotCount;
        p.NCtx = (uint)(options.SlotCount * options.ContextPerSlot);
        p.NBatch = (uint)options.BatchTokens;
        p.NUbatch = (uint)options.BatchTokens;
        p.NThreads = options.Threads;
        p.NThreadsBatch = options.Threads;
        p.KvUnified = 0;
        // Logits may be requested for every chunk of a batch (one per sequence), not one per sequence per ubatch only.
        p.NOutputsMax = 0;
        var context = LlamaApi.llama_init_from_model(model, p);
        if (context == 0)
        {
            LlamaApi.llama_model_free(model);
            throw new EngineLoadException($"llama.cpp could not create a context ({options.SlotCount} slots × {options.ContextPerSlot} tokens) for {options.ModelPath}");
        }

        var trained = LlamaApi.llama_model_n_ctx_train(model);
        if (trained > 0 && options.ContextPerSlot > trained)
        {
            // Allowed (RoPE scaling may be configured in the GGUF), but answers past the trained length usually degrade.
            Console.Error.WriteLine($"warning: {options.ContextPerSlot} tokens per slot exceeds the {trained} tokens {Path.GetFileName(options.ModelPath)} was trained with");
        }

        return new LlamaEngine(model, context, options);
    }

    private static void CheckModelFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new EngineLoadException($"model file not found: {path}");
        }

        Span<byte> magic = stackalloc byte[4];
        using var file = File.OpenRead(path);
        if (file.Read(magic) != 4 || !magic.SequenceEqual("GGUF"u8))
        {
            throw new EngineLoadException($"not a GGUF model file: {path}");
        }
    }

    public int[] Tokenize(string text, bool addBos)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new int[bytes.Length + 8];
        fixed (byte* b = bytes)
        fixed (int* t = tokens)
        {
            var n = LlamaApi.llama_tokenize(_vocab, b, bytes.Length, t, tokens.Length, addBos, parseSpecial: true);
            if (n < 0)
            {
                tokens = new int[-n];
                fixed (int* t2 = tokens)
                {
                    n = LlamaApi.llama_tokenize(_vocab, b, bytes.Length, t2, tokens.Length, addBos, parseSpecial: true);
                }
            }

            return tokens.AsSpan(0, Math.Max(n, 0)).ToArray();
        }
    }

    public byte[] TokenBytes(int token)
    {
        // Control tokens (<|im_end|>, </s>) render as nothing so they never leak into generated text; the model's
        // tool-call markers are the exception (they are parsed out of the text, never shown as content).
        return Piece(token, special: _visibleMarkers.Contains(token));
    }

    private byte[] Piece(int token, bool special)
    {
        Span<byte> buffer = stackalloc byte[256];
        int n;
        fixed (byte* b = buffer)
        {
            n = LlamaApi.llama_token_to_piece(_vocab, token, b, buffer.Length, 0, special);
        }

        if (n >= 0)
        {
            return buffer[..n].ToArray();
        }

        // A piece longer than the buffer: llama.cpp returns minus its length; never drop it.
        var large = new byte[-n];
        fixed (byte* b = large)
        {
            n = LlamaApi.llama_token_to_piece(_vocab, token, b, large.Length, 0, special);
        }

        return n <= 0 ? [] : large[..n];
    }

    public bool IsEndOfGeneration(int token) => LlamaApi.llama_vocab_is_eog(_vocab, token);

    public ITokenConstraint? CreateGrammar(string gbnf, string? triggerWord, out string? error) =>
        LlamaGrammar.TryCreate(_vocab, _utf8Tokens.Value, gbnf, triggerWord, out error) is { } grammar ? new Utf8Guard(grammar, _utf8Tokens.Value, IsEndOfGeneration, triggerWord) : null;

    /// <summary>
    /// Breaks every control token's text in <paramref name="content"/> with a zero-width space after its first
    /// character: the prompt is tokenized with special-token parsing on (the template's own markers must become
    /// control tokens), and that parsing cannot tell a marker the template wrote from one a user typed. User-defined
    /// tokens (e.g. Qwen's &lt;tool_call&gt;) are left alone: llama.cpp reads them as tokens even in plain text.
    /// </summary>
    public string AsPlainText(string content)
    {
        foreach (var control in _controlTexts.Value)
        {
            if (content.Contains(control, StringComparison.Ordinal))
            {
                content = content.Replace(control, control[..1] + "\u200B" + control[1..], StringComparison.Ordinal);
            }
        }

        return content;
    }

    public string ApplyChatTemplate(IReadOnlyList<ChatTurn> messages, bool addAssistantPrompt) =>
        Apply(_template, messages, addAssistantPrompt) ?? Apply("chatml", messages, addAssistantPrompt)!;

    public DecodeStatus Decode(IReadOnlyList<SequenceChunk> chunks)
    {
        var total = ValidTokenCount(chunks);
        if (total < 0)
        {
            return DecodeStatus.Invalid;
        }

        // With one KV stream per slot, llama.cpp puts sequences in one ubatch only while their ids run consecutively
        // in batch order (llama_batch_allocr::split_equal), and every ubatch is a pass over all the weights. So the
        // batch goes in ascending slot order, and idle slots between decoding ones get a throwaway token (no logits,
        // removed right after): eight decodes in scattered slots are one pass instead of several.
        _chunkAtSlot.AsSpan().Fill(-1);
        for (var c = 0; c < chunks.Count; c++)
        {
            _chunkAtSlot[chunks[c].Slot] = c;
        }

        var (bridgeFrom, bridgeTo) = BridgeRange(chunks);
        var spare = Info.MaxBatchTokens - total;
        var fillers = 0;
        var n = 0;
        for (var slot = 0; slot < Info.SlotCount; slot++)
        {
            if (_chunkAtSlot[slot] is var c and >= 0)
            {
                var chunk = chunks[c];
                for (var i = 0; i < chunk.Tokens.Length; i++, n++)
                {
                    var isLast = i == chunk.Tokens.Length - 1;
                    Put(n, chunk.Tokens[i], chunk.StartPosition + i, slot, isLast && chunk.WantLogits);
                }

                _outputIndexOfChunk[c] = n - 1;
            }
            else if (slot > bridgeFrom && slot < bridgeTo && fillers < spare && _lengths[slot] < Info.ContextPerSlot)
            {
                Put(n++, _fillerToken, _lengths[slot], slot, wantLogits: false);
                _fillerSlots[fillers++] = slot;
            }
        }

        _batch.NTokens = n;
        var status = (DecodeStatus)LlamaApi.llama_decode(_context, _batch);
        foreach (var slot in _fillerSlots.AsSpan(0, fillers))
        {
            LlamaApi.llama_memory_seq_rm(_memory, slot, _lengths[slot], -1);
        }

        foreach (var chunk in chunks)
        {
            _lengths[chunk.Slot] = SequenceLengthFromMemory(chunk.Slot);
        }

        return status;
    }

    /// <summary>
    /// The slots of the batch's one-token chunks (decodes), lowest and highest: the idle slots strictly between them
    /// are bridged. Prefill chunks do not widen it: llama.cpp gives every sequence of a ubatch the same number of
    /// tokens, so a prefill joins the decodes' pass with one token and runs the rest in passes of its own anyway.
    /// </summary>
    private (int From, int To) BridgeRange(IReadOnlyList<SequenceChunk> chunks)
    {
        var (from, to) = (int.MaxValue, int.MinValue);
        if (_bridgeSlotGaps)
        {
            foreach (var chunk in chunks)
            {
                if (chunk.Tokens.Length == 1)
                {
                    (from, to) = (Math.Min(from, chunk.Slot), Math.Max(to, chunk.Slot));
                }
            }
        }

        return (from, to);
    }

    private void Put(int index, int token, int position, int slot, bool wantLogits)
    {
        _batch.Token[index] = token;
        _batch.Pos[index] = position;
        _batch.NSeqId[index] = 1;
        _batch.SeqId[index][0] = slot;
        _batch.Logits[index] = (sbyte)(wantLogits ? 1 : 0);
    }

    public void CopyLogits(int chunkIndex, Span<float> destination)
    {
        var logits = LlamaApi.llama_get_logits_ith(_context, _outputIndexOfChunk[chunkIndex]);
        if (logits is null)
        {
            throw new InvalidOperationException($"chunk {chunkIndex} of the last decode produced no logits");
        }

        new ReadOnlySpan<float>(logits, Info.VocabSize).CopyTo(destination);
    }

    public int SequenceLength(int slot)
    {
        CheckSlot(slot);
        return _lengths[slot];
    }

    public void Truncate(int slot, int keepTokens)
    {
        CheckSlot(slot);
        ArgumentOutOfRangeException.ThrowIfNegative(keepTokens);
        if (keepTokens >= _lengths[slot])
        {
            return;
        }

        // Removing a tail of a non-unified sequence is supported; a failure would mean a recurrent model.
        if (!LlamaApi.llama_memory_seq_rm(_memory, slot, keepTokens, -1))
        {
            throw new InvalidOperationException($"llama.cpp refused to truncate slot {slot} to {keepTokens} tokens");
        }

        _lengths[slot] = keepTokens;
    }

    public void CopySequence(int sourceSlot, int targetSlot)
    {
        CheckSlot(sourceSlot);
        CheckSlot(targetSlot);
        if (sourceSlot == targetSlot)
        {
            return;
        }

        // Only full-range copies: a partial seq_cp across non-unified streams GGML_ASSERTs and kills the process.
        LlamaApi.llama_memory_seq_rm(_memory, targetSlot, -1, -1);
        LlamaApi.llama_memory_seq_cp(_memory, sourceSlot, targetSlot, -1, -1);
        _lengths[targetSlot] = _lengths[sourceSlot];
    }

    public long SequenceStateSize(int slot)
    {
        CheckSlot(slot);
        return (long)LlamaApi.llama_state_seq_get_size(_context, slot);
    }

    public long SaveSequence(int slot, Span<byte> destination)
    {
        CheckSlot(slot);
        fixed (byte* d = destination)
        {
            return (long)LlamaApi.llama_state_seq_get_data(_context, d, (nuint)destination.Length, slot);
        }
    }

    public bool LoadSequence(int slot, ReadOnlySpan<byte> source)
    {
        CheckSlot(slot);
        LlamaApi.llama_memory_seq_rm(_memory, slot, -1, -1);
        fixed (byte* s = source)
        {
            var read = LlamaApi.llama_state_seq_set_data(_context, s, (nuint)source.Length, slot);
            _lengths[slot] = read == 0 ? 0 : SequenceLengthFromMemory(slot);
            return read != 0;
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        LlamaApi.llama_batch_free(_batch);
        LlamaApi.llama_free(_context);
        LlamaApi.llama_model_free(_model);
    }

    private int SequenceLengthFromMemory(int slot) => LlamaApi.llama_memory_seq_pos_max(_memory, slot) + 1;

    /// <summary>
    /// The batch's token count, or -1 for what llama_decode would reject or assert on: bad slots, tokens, positions,
    /// batch size.
    /// </summary>
    private int ValidTokenCount(IReadOnlyList<SequenceChunk> chunks)
    {
        var total = 0;
        var seen = new HashSet<int>();
        foreach (var chunk in chunks)
        {
            if (chunk.Slot < 0 || chunk.Slot >= Info.SlotCount || !seen.Add(chunk.Slot) || chunk.Tokens.Length == 0
                || chunk.StartPosition != _lengths[chunk.Slot]
                || chunk.StartPosition + chunk.Tokens.Length > Info.ContextPerSlot)
            {
                return -1;
            }

            foreach (var token in chunk.Tokens)
            {
                if ((uint)token >= (uint)Info.VocabSize)
                {
                    return -1;
                }
            }

            total += chunk.Tokens.Length;
        }

        return total > 0 && total <= Info.MaxBatchTokens ? total : -1;
    }

    private void CheckSlot(int slot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, Info.SlotCount);
    }

    public ChatFormat Chat { get; }

    /// <summary>
    /// The GGUF's Jinja template (or <c>--chat-template FILE</c>) rendered by our renderer. A template it cannot read
    /// is reported and left to llama.cpp's built-in heuristics, as before.
    /// </summary>
    private ChatFormat LoadChatFormat(LlamaEngineOptions options, string? ggufTemplate)
    {
        var source = options.ChatTemplateFile is { } file ? File.ReadAllText(file) : ggufTemplate;
        ChatTemplate? template = null;
        if (source is not null)
        {
            string Text(int token) => token < 0 ? "" : Encoding.UTF8.GetString(Piece(token, special: true));
            template = ChatTemplate.TryCreate(source, Text(LlamaApi.llama_vocab_bos(_vocab)), Text(LlamaApi.llama_vocab_eos(_vocab)),
                LlamaApi.llama_vocab_get_add_bos(_vocab), out var error);
            if (template is null)
            {
                Console.Error.WriteLine($"warning: the chat template could not be read ({error}); using llama.cpp's built-in template for it");
            }
        }

        var parser = options.ToolParser is { } name ? ToolCallParsers.ByName(name)! : template?.ToolCalls ?? ToolCallParsers.Default;
        return new ChatFormat(template, parser);
    }

    private HashSet<int> MarkerTokens(IReadOnlyList<string> markers)
    {
        var tokens = new HashSet<int>();
        foreach (var marker in markers)
        {
            var ids = Tokenize(marker, addBos: false);
            if (ids.Length == 1)
            {
                tokens.Add(ids[0]);
            }
        }

        return tokens;
    }

    /// <summary>The GGUF's <c>tokenizer.chat_template</c>, null when it has none.</summary>
    private static string? ReadTemplate(nint model) =>
        LlamaApi.llama_model_chat_template(model, null) is var template and not 0 ? Marshal.PtrToStringUTF8(template) : null;

    /// <summary>llama_chat_apply_template; null when the template is not one llama.cpp knows.</summary>
    private static string? Apply(string template, IReadOnlyList<ChatTurn> messages, bool addAssistant)
    {
        var pinned = new List<nint>();
        try
        {
            nint Utf8(string s)
            {
                var p = Marshal.StringToCoTaskMemUTF8(s);
                pinned.Add(p);
                return p;
            }

            var chat = new LlamaChatMessage[messages.Count];
            for (var i = 0; i < messages.Count; i++)
            {
                chat[i] = new LlamaChatMessage { Role = Utf8(messages[i].Role), Content = Utf8(messages[i].Content) };
            }

            var tmpl = (byte*)Utf8(template);
            var capacity = 256 + messages.Sum(m => Encoding.UTF8.GetByteCount(m.Content) + 64) * 2;
            var buffer = new byte[capacity];
            fixed (LlamaChatMessage* c = chat)
            fixed (byte* b = buffer)
            {
                var n = LlamaApi.llama_chat_apply_template(tmpl, c, (nuint)chat.Length, addAssistant, b, buffer.Length);
                if (n < 0)
                {
                    return null;
                }

                if (n > buffer.Length)
                {
                    buffer = new byte[n];
                    fixed (byte* b2 = buffer)
                    {
                        n = LlamaApi.llama_chat_apply_template(tmpl, c, (nuint)chat.Length, addAssistant, b2, buffer.Length);
                    }
                }

                return Encoding.UTF8.GetString(buffer, 0, n);
            }
        }
        finally
        {
            pinned.ForEach(Marshal.FreeCoTaskMem);
        }
    }
}
