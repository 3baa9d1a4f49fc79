namespace Serving.Workers.Engine;

/// <summary>
/// Keeps constrained output valid UTF-8, in front of a grammar. llama.cpp's grammar decodes bytes leniently (an
/// overlong or out-of-range sequence still counts as one character), while the text we send decodes strictly (such
/// bytes become U+FFFD), so a byte-level token could satisfy the grammar and still break a schema's length or a JSON
/// reader. This mask allows only tokens that keep the output a valid UTF-8 prefix (RFC 3629's byte ranges).
/// Cheap: at a character boundary only the few tokens that are not complete, valid UTF-8 on their own are checked;
/// inside a multi-byte character only the tokens that start with a continuation byte can be allowed.
/// </summary>
/// <remarks>
/// In front of a lazy grammar (<paramref name="triggerWord"/>), the mask waits for the same word: text before a tool
/// call is free text, sampled exactly as without a grammar.
/// </remarks>
internal sealed class Utf8Guard(ITokenConstraint inner, Utf8TokenTable table, Func<int, bool> endsGeneration, string? triggerWord = null) : ITokenConstraint
{
    private Utf8State _state;
    private readonly byte[]? _trigger = triggerWord is null ? null : System.Text.Encoding.UTF8.GetBytes(triggerWord);
    private List<byte>? _beforeTrigger = triggerWord is null ? null : [];

    public bool Allows(int token, float logit)
    {
        if (_beforeTrigger is not null)
        {
            return true; // the lazy grammar constrains nothing yet either
        }

        if (token >= table.Bytes.Length)
        {
            return false;
        }

        // Mid-character nothing may end generation; otherwise the token's bytes must keep the output valid UTF-8.
        var fits = endsGeneration(token) ? _state.AtBoundary : _state.Extend(table.Bytes[token]).Valid;
        return fits && inner.Allows(token, logit);
    }

    public void Apply(Span<float> logits)
    {
        if (_beforeTrigger is not null)
        {
            return;
        }

        inner.Apply(logits);
        if (_state.AtBoundary)
        {
            foreach (var token in table.NotSelfContained)
            {
                if (token < logits.Length && !float.IsNegativeInfinity(logits[token]) && !_state.Extend(table.Bytes[token]).Valid)
                {
                    logits[token] = float.NegativeInfinity;
                }
            }

            return;
        }

        // Mid-character: nothing but a fitting continuation may come (not even the end of generation).
        var allowed = new List<(int Token, float Logit)>();
        foreach (var token in table.StartsWithContinuation)
        {
            if (token < logits.Length && !float.IsNegativeInfinity(logits[token]) && _state.Extend(table.Bytes[token]).Valid)
            {
                allowed.Add((token, logits[token]));
            }
        }

        logits.Fill(float.NegativeInfinity);
        foreach (var (token, logit) in allowed)
        {
            logits[token] = logit;
        }
    }

    public void Accept(int token)
    {
        if (_beforeTrigger is { } seen)
        {
            // Free text until the word appears; from there on (a tool call's ASCII tag) the mask applies.
            var piece = table.Bytes[token];
            seen.AddRange(piece);
            var text = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seen);
            var tail = Math.Min(text.Length, piece.Length + _trigger!.Length - 1); // only where a new match can end
            if (text[^tail..].IndexOf(_trigger) >= 0)
            {
                _beforeTrigger = null;
            }
        }
        else if (!endsGeneration(token))
        {
            _state = _state.Extend(table.Bytes[token]);
        }

        inner.Accept(token);
    }

    public void Dispose() => inner.Dispose();
}

/// <summary>
/// Every token's bytes, the two lists <see cref="Utf8Guard"/> checks, and the tokens grouped by their first byte
/// (<see cref="LlamaGrammar"/> asks the grammar about one single-byte token per group before it checks a group's
/// tokens); built once per engine.
/// </summary>
internal sealed class Utf8TokenTable
{
    public Utf8TokenTable(int vocabSize, Func<int, byte[]> bytes)
    {
        Bytes = new byte[vocabSize][];
        var notSelfContained = new List<int>();
        var continuation = new List<int>();
        var byFirst = Enumerable.Range(0, 256).Select(_ => new List<int>()).ToArray();
        var empty = new List<int>();
        SingleByte = Enumerable.Repeat(-1, 256).ToArray();
        for (var token = 0; token < vocabSize; token++)
        {
            var piece = Bytes[token] = bytes(token);
            if (piece.Length == 0)
            {
                empty.Add(token);
            }
            else
            {
                byFirst[piece[0]].Add(token);
                if (piece.Length == 1 && SingleByte[piece[0]] < 0)
                {
                    SingleByte[piece[0]] = token;
                }
            }

            var alone = default(Utf8State).Extend(piece);
            if (!alone.Valid || !alone.AtBoundary)
            {
                notSelfContained.Add(token);
            }

            if (piece.Length > 0 && piece[0] is >= 0x80 and <= 0xBF)
            {
                continuation.Add(token);
            }
        }

        (NotSelfContained, StartsWithContinuation) = (notSelfContained.ToArray(), continuation.ToArray());
        (ByFirstByte, Empty) = (byFirst.Select(g => g.ToArray()).ToArray(), empty.ToArray());
        Probes = Enumerable.Range(0, 256).Where(b => ByFirstByte[b].Length > 0 && SingleByte[b] >= 0).Select(b => SingleByte[b]).ToArray();
    }

    public byte[][] Bytes { get; }

    /// <summary>Tokens by the first byte of their piece.</summary>
    public int[][] ByFirstByte { get; }

    /// <summary>For each byte, a token whose piece is that byte alone (-1 if none).</summary>
    public int[] SingleByte { get; }

    /// <summary>One single-byte token for each first byte that starts some token: what the grammar is asked first.</summary>
    public int[] Probes { get; }

    /// <summary>Tokens with an empty piece (control and end-of-generation tokens).</summary>
    public int[] Empty { get; }

    /// <summary>Tokens that are not complete, valid UTF-8 by themselves (byte tokens, split characters, junk).</summary>
    public int[] NotSelfContained { get; }

    public int[] StartsWithContinuation { get; }
}

/// <summary>Where a UTF-8 decoder stands: bytes still owed by the current character and the range the next one must fall in.</summary>
internal readonly record struct Utf8State(int Remaining, byte Low, byte High, bool Broken = false)
{
    public bool AtBoundary => Remaining == 0;

    public bool Valid => !Broken;

    public Utf8State Extend(ReadOnlySpan<byte> bytes)
    {
        var state = this;
        foreach (var b in bytes)
        {
            if (!state.Valid)
            {
                return state;
            }

            state = state.Remaining > 0
                ? (b >= state.Low && b <= state.High ? new Utf8State(state.Remaining - 1, 0x80, 0xBF) : state with { Broken = true })
                : b switch
                {
                    < 0x80 => new Utf8State(0, 0, 0),
                    >= 0xC2 and <= 0xDF => new Utf8State(1, 0x80, 0xBF),
                    0xE0 => new Utf8State(2, 0xA0, 0xBF),
                    0xED => new Utf8State(2, 0x80, 0x9F),
                    >= 0xE1 and <= 0xEF => new Utf8State(2, 0x80, 0xBF),
                    0xF0 => new Utf8State(3, 0x90, 0xBF),
                    >= 0xF1 and <= 0xF3 => new Utf8State(3, 0x80, 0xBF),
                    0xF4 => new Utf8State(3, 0x80, 0x8F),
                    _ => state with { Broken = true },
                };
        }

        return state;
    }
}
