using System.Text;

namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// gpt-oss (OpenAI's harmony format): the output is a run of messages,
/// <c>&lt;|channel|&gt;analysis&lt;|message|&gt;...&lt;|end|&gt;&lt;|start|&gt;assistant&lt;|channel|&gt;commentary to=functions.NAME
/// &lt;|constrain|&gt;json&lt;|message|&gt;{...}&lt;|call|&gt;</c> or <c>&lt;|channel|&gt;final&lt;|message|&gt;answer</c>.
/// The final channel is the content, a message addressed to <c>functions.NAME</c> is a call, the analysis channel is
/// the reasoning (<c>reasoning_content</c>). Output without channel markers is content as it is.
/// </summary>
public sealed class HarmonyToolCalls : IToolCallParser
{
    private const string Channel = "<|channel|>";
    private const string Message = "<|message|>";
    private static readonly string[] Ends = ["<|end|>", "<|call|>", "<|return|>"];

    public string Name => "gpt-oss";

    public IReadOnlyList<string> Markers => [Channel, Message, "<|start|>", "<|constrain|>", .. Ends];

    public bool ReadsEveryAnswer => true;

    public ToolCallSnapshot Parse(string text, OfferedTools tools, bool final)
    {
        if (!text.Contains(Message, StringComparison.Ordinal))
        {
            // Still in the first header (or plain text from a model that does not use channels).
            var start = JsonScan.SkipSpace(text, 0);
            var header = text.Contains(Channel, StringComparison.Ordinal) || text.AsSpan(start).StartsWith("to=")
                || JsonScan.IsGrowingPrefix(text, start, Channel) || JsonScan.IsGrowingPrefix(text, start, "to=");
            return ToolCallSnapshot.Text(header && !final ? "" : header ? "" : text);
        }

        var content = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new List<PartialToolCall>();
        var position = 0;
        while (position < text.Length)
        {
            var body = text.IndexOf(Message, position, StringComparison.Ordinal);
            if (body < 0)
            {
                break;
            }

            // The header holds the channel and the recipient, which may come before the channel
            // ("assistant to=functions.x<|channel|>commentary") or after it ("<|channel|>commentary to=functions.x").
            var header = text[position..body];
            var bodyStart = body + Message.Length;
            var (end, endLength) = NextEnd(text, bodyStart);
            var complete = end >= 0 || final;
            var bodyText = text[bodyStart..(end >= 0 ? end : text.Length)];
            if (!complete)
            {
                // A marker may be arriving token by token: hold back what could still become one.
                bodyText = bodyText[..(bodyText.Length - Boundaries.Max(e => PartialMarker.TailLength(bodyText, e)))];
            }

            var recipient = header.IndexOf("to=functions.", StringComparison.Ordinal);
            if (recipient >= 0)
            {
                var name = header[(recipient + "to=functions.".Length)..].Split([' ', '<'], 2)[0].Trim();
                var arguments = bodyText.Trim();
                if (!tools.Contains(name) || (complete && !JsonScan.IsValid(arguments)))
                {
                    content.Append(bodyText);
                }
                else
                {
                    calls.Add(new PartialToolCall(name, arguments, complete));
                }
            }
            else if (header.Contains(Channel + "final", StringComparison.Ordinal))
            {
                content.Append(bodyText);
            }
            else if (header.Contains(Channel + "analysis", StringComparison.Ordinal))
            {
                reasoning.Append(bodyText);
            }

            if (end < 0)
            {
                break;
            }

            position = end + endLength;
        }

        return new ToolCallSnapshot(content.ToString(), calls) { Reasoning = reasoning.ToString() };
    }

    /// <summary>What ends a message body: an end marker, or the next message's start.</summary>
    private static readonly string[] Boundaries = [.. Ends, "<|start|>", Channel];

    private static (int Index, int Length) NextEnd(string text, int from)
    {
        var best = (-1, 0);
        foreach (var end in Boundaries)
        {
            var index = text.IndexOf(end, from, StringComparison.Ordinal);
            if (index >= 0 && (best.Item1 < 0 || index < best.Item1))
            {
                best = (index, Ends.Contains(end) ? end.Length : 0);
            }
        }

        return best;
    }
}
