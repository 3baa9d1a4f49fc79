using Serving.Workers.Protocol;
using System.Text;

namespace Serving.Workers.Runtime;

/// <summary>
/// Turns token bytes into text deltas: decodes UTF-8 across token boundaries (a character may span tokens), and
/// holds back any tail that could still become a stop string, so a stop string is never emitted, even in part.
/// </summary>
internal sealed class TextAssembler(IReadOnlyList<string> stops)
{
    private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();
    private readonly StringBuilder _text = new();
    private char[] _chars = new char[64];
    private int _emitted;

    public bool StopHit { get; private set; }

    /// <summary>All visible text so far (without a stop string and what followed it).</summary>
    public string Text => _text.ToString();

    /// <summary>Adds one token's bytes and returns the text that is now safe to emit.</summary>
    public string Append(ReadOnlySpan<byte> bytes)
    {
        // A token's piece can be long (merged whitespace, long words): size the buffer for it, never drop or throw.
        var needed = _decoder.GetCharCount(bytes, flush: false);
        if (needed > _chars.Length)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }

        var n = _decoder.GetChars(bytes, _chars, flush: false);
        _text.Append(_chars, 0, n);
        var text = _text.ToString();
        var searchFrom = Math.Max(0, _emitted - stops.Select(s => s.Length).DefaultIfEmpty(0).Max());
        var stopAt = -1;
        foreach (var stop in stops)
        {
            var index = text.IndexOf(stop, searchFrom, StringComparison.Ordinal);
            if (index >= 0 && (stopAt < 0 || index < stopAt))
            {
                stopAt = index;
            }
        }

        if (stopAt >= 0)
        {
            StopHit = true;
            _text.Length = stopAt;
            return Take(stopAt);
        }

        return Take(text.Length - HeldBack(text));
    }

    /// <summary>
    /// Everything not yet emitted (at the end of the turn). A character cut in two by max_tokens becomes U+FFFD, as
    /// llama-server sends it, instead of disappearing.
    /// </summary>
    public string Flush()
    {
        if (!StopHit)
        {
            _text.Append(_chars, 0, _decoder.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true));
        }

        return Take(_text.Length);
    }

    private string Take(int upTo)
    {
        if (upTo <= _emitted)
        {
            return "";
        }

        var delta = _text.ToString(_emitted, upTo - _emitted);
        _emitted = upTo;
        return delta;
    }

    /// <summary>Length of the longest tail of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    private int HeldBack(string text)
    {
        var held = 0;
        foreach (var stop in stops)
        {
            held = Math.Max(held, PartialMarker.TailLength(text, stop));
        }

        return held;
    }
}
