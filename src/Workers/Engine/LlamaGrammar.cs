using System.Text;
using Serving.Workers.Native;

namespace Serving.Workers.Engine;

/// <summary>
/// llama.cpp's GBNF grammar sampler, used as a logit mask in front of our own sampler: every step it sees all
/// candidates and rejects those the grammar cannot continue with (end of generation only once the grammar is
/// complete). Parsing is safe to call with any text: llama.cpp catches its parser's errors and returns null. Accepting
/// a token the grammar rejects would abort the process inside llama.cpp, which is why <see cref="Accept"/> is only
/// ever called with the token sampled from masked logits.
/// </summary>
internal sealed unsafe class LlamaGrammar : ITokenConstraint
{
    private nint _sampler;
    private readonly Utf8TokenTable _tokens;
    private readonly LlamaTokenData[] _candidates;
    private readonly LlamaTokenData[] _probes = new LlamaTokenData[256];

    private LlamaGrammar(nint sampler, Utf8TokenTable tokens)
    {
        _sampler = sampler;
        _tokens = tokens;
        _candidates = new LlamaTokenData[tokens.Bytes.Length];
    }

    /// <summary>
    /// The grammar, or null when its text does not parse (or names no <c>root</c> rule). With
    /// <paramref name="triggerWord"/> it is lazy: output is free until that text appears, and constrained from it on
    /// (the grammar's root starts with the word).
    /// </summary>
    public static LlamaGrammar? TryCreate(nint vocab, Utf8TokenTable tokens, string gbnf, string? triggerWord, out string? error)
    {
        var text = Encoding.UTF8.GetBytes(gbnf + "\0");
        var pattern = triggerWord is null ? null : Encoding.UTF8.GetBytes(EscapeRegex(triggerWord) + "\0");
        var (sampler, logged) = LlamaNative.CapturingErrors(() => Init(vocab, text, pattern));
        error = sampler == 0 ? logged ?? "the grammar does not parse" : null;
        return sampler == 0 ? null : new LlamaGrammar(sampler, tokens);
    }

    private static nint Init(nint vocab, byte[] text, byte[]? pattern)
    {
        var root = "root\0"u8;
        fixed (byte* g = text)
        fixed (byte* r = root)
        fixed (byte* p = pattern)
        {
            var patterns = stackalloc byte*[1];
            patterns[0] = p;
            return pattern is null
                ? LlamaApi.llama_sampler_init_grammar(vocab, g, r)
                : LlamaApi.llama_sampler_init_grammar_lazy_patterns(vocab, g, r, patterns, 1, null, 0);
        }
    }

    /// <summary>The word as an ECMAScript regex that matches it literally (std::regex aborts on a malformed one).</summary>
    private static string EscapeRegex(string word) =>
        string.Concat(word.Select(c => "\\^$.|?*+()[]{}/".Contains(c) ? "\\" + c : c.ToString()));

    public bool Allows(int token, float logit)
    {
        ObjectDisposedException.ThrowIf(_sampler == 0, this);
        var single = new LlamaTokenData { Id = token, Logit = logit };
        var array = new LlamaTokenDataArray { Data = &single, Size = 1, Selected = -1 };
        LlamaApi.llama_sampler_apply(_sampler, &array);
        return !float.IsNegativeInfinity(single.Logit);
    }

    /// <summary>
    /// Masks every token the grammar refuses. llama.cpp checks each candidate at ≈ 100 ns (3 ms for a 32k vocabulary),
    /// so it is first asked about one single-byte token per first byte: a token whose first byte the grammar refuses
    /// is refused whole (a piece is accepted only if its first character is), so only the groups whose first byte
    /// can come next are checked token by token — at a JSON comma or brace, a small part of the vocabulary.
    /// </summary>
    public void Apply(Span<float> logits)
    {
        ObjectDisposedException.ThrowIf(_sampler == 0, this);
        var probed = _tokens.Probes.Length;
        for (var i = 0; i < probed; i++)
        {
            _probes[i] = new LlamaTokenData { Id = _tokens.Probes[i], Logit = 0f };
        }

        Span<bool> open = stackalloc bool[256];
        open.Fill(true); // bytes without a single-byte token are checked token by token
        fixed (LlamaTokenData* data = _probes)
        {
            var array = new LlamaTokenDataArray { Data = data, Size = (nuint)probed, Selected = -1 };
            LlamaApi.llama_sampler_apply(_sampler, &array);
        }

        for (var i = 0; i < probed; i++)
        {
            open[_tokens.Bytes[_probes[i].Id][0]] = !float.IsNegativeInfinity(_probes[i].Logit);
        }

        var n = 0;
        foreach (var token in _tokens.Empty)
        {
            if (token < logits.Length) _candidates[n++] = new LlamaTokenData { Id = token, Logit = logits[token] };
        }

        for (var b = 0; b < 256; b++)
        {
            foreach (var token in _tokens.ByFirstByte[b])
            {
                if (token >= logits.Length) continue;
                if (open[b]) _candidates[n++] = new LlamaTokenData { Id = token, Logit = logits[token] };
                else logits[token] = float.NegativeInfinity;
            }
        }

        fixed (LlamaTokenData* data = _candidates)
        {
            var array = new LlamaTokenDataArray { Data = data, Size = (nuint)n, Selected = -1 };
            LlamaApi.llama_sampler_apply(_sampler, &array);
            // The grammar sampler edits logits in place and never reorders or shrinks the array.
            for (var i = 0; i < n; i++)
            {
                logits[data[i].Id] = data[i].Logit;
            }
        }
    }

    public void Accept(int token)
    {
        ObjectDisposedException.ThrowIf(_sampler == 0, this);
        LlamaApi.llama_sampler_accept(_sampler, token);
    }

    public void Dispose()
    {
        if (_sampler != 0)
        {
            LlamaApi.llama_sampler_free(_sampler);
            _sampler = 0;
        }

        GC.SuppressFinalize(this);
    }

    ~LlamaGrammar()
    {
        // A turn that never reached Finish (process shutting down) still frees its native sampler.
        if (_sampler != 0)
        {
            LlamaApi.llama_sampler_free(_sampler);
        }
    }
}
