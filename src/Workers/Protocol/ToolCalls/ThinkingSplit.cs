namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Separates a thinking model's reasoning (Qwen3, QwQ, DeepSeek R1: <c>&lt;think&gt;…&lt;/think&gt;</c> before the
/// answer) from its answer, as llama-server and vLLM do: the reasoning goes out as <c>reasoning_content</c>, the rest
/// is the answer (content and tool calls). Some templates open the block in the generation prompt (DeepSeek R1's ends
/// in <c>&lt;think&gt;</c>): then the output starts inside it.
/// </summary>
public static class ThinkingSplit
{
    public const string Open = "<think>";
    public const string Close = "</think>";

    /// <summary>
    /// The reasoning and the answer's text so far. While streaming (<paramref name="final"/> false), a tail that may
    /// still become a tag is held back, so both parts only grow.
    /// </summary>
    public static (string Reasoning, string Answer) Split(string text, bool startsInside, bool final)
    {
        var start = 0;
        if (!startsInside)
        {
            var first = JsonScan.SkipSpace(text, 0);
            if (!final && JsonScan.IsGrowingPrefix(text, first, Open))
            {
                return ("", "");
            }

            if (!text.AsSpan(first).StartsWith(Open))
            {
                return ("", text);
            }

            start = first + Open.Length;
        }

        var close = text.IndexOf(Close, start, StringComparison.Ordinal);
        if (close < 0)
        {
            var reasoning = text[start..];
            return ((final ? reasoning : reasoning[..(reasoning.Length - PartialMarker.TailLength(reasoning, Close))]).TrimStart(), "");
        }

        return (text[start..close].TrimStart(), text[(close + Close.Length)..].TrimStart());
    }
}
