using System.Runtime.InteropServices;

namespace Serving.Workers.Native;

/// <summary>
/// The minimal llama.cpp C API surface the worker needs. Library names are mapped to full paths by
/// <see cref="LlamaNative"/>'s import resolver, so nothing here depends on LD_LIBRARY_PATH.
/// </summary>
internal static unsafe partial class LlamaApi
{
    private const string Llama = "llama";
    private const string Ggml = "ggml";

    [LibraryImport(Ggml, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void ggml_backend_load_all_from_path(string dir);

    [LibraryImport(Ggml)]
    public static partial nuint ggml_backend_dev_count();

    [LibraryImport(Llama)]
    public static partial void llama_log_set(delegate* unmanaged<int, byte*, void*, void> callback, void* userData);

    [LibraryImport(Llama)]
    public static partial void llama_backend_init();

    [LibraryImport(Llama)]
    public static partial LlamaModelParams llama_model_default_params();

    [LibraryImport(Llama)]
    public static partial LlamaContextParams llama_context_default_params();

    [LibraryImport(Llama, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint llama_model_load_from_file(string path, LlamaModelParams p);

    [LibraryImport(Llama)]
    public static partial void llama_model_free(nint model);

    [LibraryImport(Llama)]
    public static partial nint llama_init_from_model(nint model, LlamaContextParams p);

    [LibraryImport(Llama)]
    public static partial void llama_free(nint ctx);

    [LibraryImport(Llama)]
    public static partial nint llama_model_get_vocab(nint model);

    [LibraryImport(Llama)]
    public static partial int llama_vocab_n_tokens(nint vocab);

    [LibraryImport(Llama)]
    public static partial int llama_vocab_bos(nint vocab);

    [LibraryImport(Llama)]
    public static partial int llama_vocab_eos(nint vocab);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool llama_vocab_get_add_bos(nint vocab);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool llama_vocab_is_eog(nint vocab, int token);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool llama_vocab_is_control(nint vocab, int token);

    /// <summary>Token attribute flags (llama_token_attr): 1 unknown, 8 control, 16 user-defined, 32 byte.</summary>
    [LibraryImport(Llama)]
    public static partial int llama_vocab_get_attr(nint vocab, int token);

    [LibraryImport(Llama)]
    public static partial byte* llama_vocab_get_text(nint vocab, int token);

    [LibraryImport(Llama)]
    public static partial int llama_model_n_layer(nint model);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool llama_model_is_recurrent(nint model);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool llama_model_is_hybrid(nint model);

    [LibraryImport(Llama)]
    public static partial int llama_model_n_ctx_train(nint model);

    [LibraryImport(Llama)]
    public static partial int llama_model_n_embd(nint model);

    [LibraryImport(Llama)]
    public static partial int llama_model_n_head(nint model);

    [LibraryImport(Llama)]
    public static partial int llama_model_n_head_kv(nint model);

    [LibraryImport(Llama)]
    public static partial int llama_model_desc(nint model, byte* buf, nuint size);

    [LibraryImport(Llama)]
    public static partial ulong llama_model_n_params(nint model);

    [LibraryImport(Llama)]
    public static partial nint llama_model_chat_template(nint model, byte* name);

    [LibraryImport(Llama)]
    public static partial uint llama_n_ctx(nint ctx);

    [LibraryImport(Llama)]
    public static partial uint llama_n_ctx_seq(nint ctx);

    [LibraryImport(Llama)]
    public static partial uint llama_n_seq_max(nint ctx);

    [LibraryImport(Llama)]
    public static partial uint llama_n_batch(nint ctx);

    [LibraryImport(Llama)]
    public static partial int llama_tokenize(nint vocab, byte* text, int textLen, int* tokens, int maxTokens,
        [MarshalAs(UnmanagedType.U1)] bool addSpecial, [MarshalAs(UnmanagedType.U1)] bool parseSpecial);

    [LibraryImport(Llama)]
    public static partial int llama_token_to_piece(nint vocab, int token, byte* buf, int length, int lstrip,
        [MarshalAs(UnmanagedType.U1)] bool special);

    [LibraryImport(Llama)]
    public static partial int llama_chat_apply_template(byte* tmpl, LlamaChatMessage* chat, nuint nMsg,
        [MarshalAs(UnmanagedType.U1)] bool addAssistant, byte* buf, int length);

    /// <summary>A GBNF grammar sampler; null when the grammar does not parse (llama.cpp catches its parser's errors).</summary>
    [LibraryImport(Llama)]
    public static partial nint llama_sampler_init_grammar(nint vocab, byte* grammar, byte* root);

    /// <summary>
    /// A grammar that waits for a trigger: unconstrained until the output matches one of the regexes (ECMAScript,
    /// std::regex — a pattern that does not compile aborts, so only fixed, escaped patterns go here), then fed from
    /// the first capture group (or the match) on.
    /// </summary>
    [LibraryImport(Llama)]
    public static partial nint llama_sampler_init_grammar_lazy_patterns(nint vocab, byte* grammar, byte* root, byte** patterns, nuint patternCount,
        int* tokens, nuint tokenCount);

    [LibraryImport(Llama)]
    public static partial void llama_sampler_apply(nint sampler, LlamaTokenDataArray* candidates);

    /// <summary>Aborts the process for a token the grammar rejects or an end-of-generation token before the grammar is done: call it only with a token that survived <see cref="llama_sampler_apply"/>, never with one that ends generation.</summary>
    [LibraryImport(Llama)]
    public static partial void llama_sampler_accept(nint sampler, int token);

    [LibraryImport(Llama)]
    public static partial void llama_sampler_free(nint sampler);

    [LibraryImport(Llama)]
    public static partial LlamaBatch llama_batch_init(int nTokens, int embd, int nSeqMax);

    [LibraryImport(Llama)]
    public static partial void llama_batch_free(LlamaBatch batch);

    [LibraryImport(Llama)]
    public static partial int llama_decode(nint ctx, LlamaBatch batch);

    [LibraryImport(Llama)]
    public static partial float* llama_get_logits_ith(nint ctx, int i);

    [LibraryImport(Llama)]
    public static partial nint llama_get_memory(nint ctx);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool llama_memory_seq_rm(nint mem, int seqId, int p0, int p1);

    [LibraryImport(Llama)]
    public static partial void llama_memory_seq_cp(nint mem, int src, int dst, int p0, int p1);

    [LibraryImport(Llama)]
    public static partial int llama_memory_seq_pos_max(nint mem, int seqId);

    [LibraryImport(Llama)]
    public static partial nuint llama_state_seq_get_size(nint ctx, int seqId);

    [LibraryImport(Llama)]
    public static partial nuint llama_state_seq_get_data(nint ctx, byte* dst, nuint size, int seqId);

    [LibraryImport(Llama)]
    public static partial nuint llama_state_seq_set_data(nint ctx, byte* src, nuint size, int destSeqId);
}
