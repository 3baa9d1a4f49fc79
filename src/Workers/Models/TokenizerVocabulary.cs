namespace Serving.Workers.Models;

/// <summary>
/// A SentencePiece-style ("llama") vocabulary that needs no merges: control tokens, 256 byte-fallback tokens (so any
/// UTF-8 text tokenizes), "▁" and printable ASCII alone and with a "▁" prefix, a few common words, letter pairs, then
/// fillers. Scores are -index, so earlier pieces win merges and text splits into sensible pieces.
/// </summary>
internal sealed record TokenizerVocabulary(List<string> Tokens, List<float> Scores, List<int> Types)
{
    public const int Unknown = 0;
    public const int Bos = 1;
    public const int Eos = 2;
    public const int ImStart = 3;
    public const int ImEnd = 4;

    private const int Normal = 1, UnknownType = 2, Control = 3, ByteType = 6;

    private static readonly string[] Words =
    [
        "the", "tool", "agent", "json", "user", "assistant", "system", "call", "name", "file", "result", "error",
        "function", "arguments", "content", "and", "to", "of", "in", "is", "for", "that", "with", "on", "this",
    ];

    public static TokenizerVocabulary Build(int size)
    {
        var tokens = new List<string>(size);
        var types = new List<int>(size);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string text, int type)
        {
            if (tokens.Count < size && seen.Add(text))
            {
                tokens.Add(text);
                types.Add(type);
            }
        }

        Add("<unk>", UnknownType);
        Add("<s>", Control);
        Add("</s>", Control);
        Add("<|im_start|>", Control);
        Add("<|im_end|>", Control);
        for (var b = 0; b < 256; b++)
        {
            Add($"<0x{b:X2}>", ByteType);
        }

        Add("▁", Normal);
        for (var c = '!'; c <= '~'; c++)
        {
            Add(c.ToString(), Normal);
        }

        for (var c = '!'; c <= '~'; c++)
        {
            Add("▁" + c, Normal);
        }

        foreach (var word in Words)
        {
            Add("▁" + word, Normal);
        }

        for (var a = 'a'; a <= 'z'; a++)
        {
            for (var b = 'a'; b <= 'z'; b++)
            {
                Add($"{a}{b}", Normal);
            }
        }

        for (var a = 'a'; a <= 'z' && tokens.Count < size; a++)
        {
            for (var b = 'a'; b <= 'z'; b++)
            {
                for (var c = 'a'; c <= 'z'; c++)
                {
                    Add($"{a}{b}{c}", Normal);
                }
            }
        }

        for (var k = 0; tokens.Count < size; k++)
        {
            Add($"<filler_{k}>", Normal);
        }

        var scores = Enumerable.Range(0, tokens.Count).Select(i => (float)-i).ToList();
        return new TokenizerVocabulary(tokens, scores, types);
    }
}
