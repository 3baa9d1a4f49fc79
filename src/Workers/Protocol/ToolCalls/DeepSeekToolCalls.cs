namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// DeepSeek V3 / R1 (format <c>deepseek</c>): <c>&lt;｜tool▁calls▁begin｜&gt;&lt;｜tool▁call▁begin｜&gt;function&lt;｜tool▁sep｜&gt;NAME</c>,
/// then the arguments in a json code fence, <c>&lt;｜tool▁call▁end｜&gt;</c>; V3.1 (format <c>deepseek-v3.1</c>) writes
/// <c>NAME&lt;｜tool▁sep｜&gt;{...}</c> instead. Either reads both forms; the name says which one the model writes,
/// which is the one tool grammars spell out.
/// </summary>
public sealed class DeepSeekToolCalls(bool fenced) : DelimitedToolCallParser
{
    private const string CallBegin = "<｜tool▁call▁begin｜>";
    private const string CallEnd = "<｜tool▁call▁end｜>";
    private const string Separator = "<｜tool▁sep｜>";

    public override string Name => fenced ? Scheduler.Contracts.ToolCallFormats.DeepSeek : Scheduler.Contracts.ToolCallFormats.DeepSeekV31;

    protected override string Open => "<｜tool▁calls▁begin｜>";

    protected override string? Close => "<｜tool▁calls▁end｜>";

    public override IReadOnlyList<string> Markers => [Open, Close!, CallBegin, CallEnd, Separator];

    protected override Block ReadBlock(string text, int start, OfferedTools tools)
    {
        var calls = new List<PartialToolCall>();
        var position = start;
        while (true)
        {
            var i = JsonScan.SkipSpace(text, position);
            if (i >= text.Length && calls.Count > 0)
            {
                // Calls so far are complete; more may follow while streaming (each parse starts over).
                return new Block(calls, position, true);
            }

            if (JsonScan.IsGrowingPrefix(text, i, CallBegin) || JsonScan.IsGrowingPrefix(text, i, Close!))
            {
                return Block.Incomplete(calls);
            }

            if (!text.AsSpan(i).StartsWith(CallBegin))
            {
                return new Block(calls, position, calls.Count > 0);
            }

            var separator = text.IndexOf(Separator, i, StringComparison.Ordinal);
            if (separator < 0)
            {
                return Block.Incomplete(calls);
            }

            var head = text[(i + CallBegin.Length)..separator].Trim();
            var json = separator + Separator.Length;
            string name;
            if (head == "function")
            {
                var newline = text.IndexOf('\n', json);
                if (newline < 0)
                {
                    return Block.Incomplete(calls);
                }

                name = text[json..newline].Trim();
                json = JsonScan.SkipSpace(text, newline);
                if (JsonScan.IsGrowingPrefix(text, json, "```json"))
                {
                    return Block.Incomplete([.. calls, new PartialToolCall(name, "", false)]);
                }

                json = text.AsSpan(json).StartsWith("```json") ? JsonScan.SkipSpace(text, json + 7) : json;
            }
            else
            {
                name = head;
                json = JsonScan.SkipSpace(text, json);
            }

            if (json >= text.Length)
            {
                return Block.Incomplete([.. calls, new PartialToolCall(name, "", false)]);
            }

            var end = text[json] == '{' ? JsonScan.EndOfContainer(text, json) : -2;
            if (end == -2 || name.Length == 0)
            {
                return Block.Invalid;
            }

            if (end < 0)
            {
                return Block.Incomplete([.. calls, new PartialToolCall(name, text[json..], false)]);
            }

            if (!JsonScan.IsValid(text[json..end]))
            {
                return Block.Invalid;
            }

            calls.Add(new PartialToolCall(name, text[json..end], true));
            var after = JsonScan.SkipSpace(text, end);
            after = text.AsSpan(after).StartsWith("```") ? JsonScan.SkipSpace(text, after + 3) : after;
            if (JsonScan.IsGrowingPrefix(text, after, CallEnd) || JsonScan.IsGrowingPrefix(text, after, "```"))
            {
                return Block.Incomplete(calls);
            }

            position = text.AsSpan(after).StartsWith(CallEnd) ? after + CallEnd.Length : after;
        }
    }
}
