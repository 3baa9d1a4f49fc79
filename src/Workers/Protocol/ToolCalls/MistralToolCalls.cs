namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Mistral: <c>[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]</c> (v3 tokenizers, Nemo: format <c>mistral</c>)
/// or, from the v11 tokenizers on (Mistral Small 3.2, Devstral, Ministral 3: format <c>mistral-v11</c>),
/// <c>[TOOL_CALLS]NAME[ARGS]{...}</c> per call, with an optional <c>[CALL_ID]id</c> before <c>[ARGS]</c>. Either
/// reads both forms; the name says which one the model writes, which is the one tool grammars spell out.
/// </summary>
public sealed class MistralToolCalls(bool namedCalls) : DelimitedToolCallParser
{
    private const string Args = "[ARGS]";
    private const string CallId = "[CALL_ID]";

    public override string Name => namedCalls ? Scheduler.Contracts.ToolCallFormats.MistralV11 : Scheduler.Contracts.ToolCallFormats.Mistral;

    protected override string Open => "[TOOL_CALLS]";

    public override IReadOnlyList<string> Markers => [Open, Args, CallId];

    protected override Block ReadBlock(string text, int start, OfferedTools tools)
    {
        var i = JsonScan.SkipSpace(text, start);
        if (i >= text.Length)
        {
            return Block.Incomplete([]);
        }

        return text[i] == '[' ? ReadArray(text, i) : ReadNamed(text, i);
    }

    private static Block ReadArray(string text, int i)
    {
        var calls = new List<PartialToolCall>();
        var position = i + 1;
        while (true)
        {
            position = JsonScan.SkipSpace(text, position);
            if (position < text.Length && text[position] == ',')
            {
                position = JsonScan.SkipSpace(text, position + 1);
            }

            if (position >= text.Length)
            {
                return Block.Incomplete(calls);
            }

            if (text[position] == ']')
            {
                return new Block(calls, position + 1, true);
            }

            var element = ReadJsonCall(text, position, "arguments", "parameters");
            if (!element.Valid)
            {
                return Block.Invalid;
            }

            calls.AddRange(element.Calls);
            if (element.End < 0)
            {
                return Block.Incomplete(calls);
            }

            position = element.End;
        }
    }

    private static Block ReadNamed(string text, int i)
    {
        var args = text.IndexOf(Args, i, StringComparison.Ordinal);
        var nameEnd = text.IndexOf('[', i);
        if (args < 0)
        {
            // Still writing the name (or a [CALL_ID]); a name never holds white space or braces.
            var head = text[i..(nameEnd < 0 ? text.Length : nameEnd)];
            return head.Any(c => char.IsWhiteSpace(c) || c is '{' or '}') ? Block.Invalid : Block.Incomplete([]);
        }

        var name = text[i..nameEnd];
        if (nameEnd != args && !text.AsSpan(nameEnd).StartsWith(CallId) || name.Length == 0 || name.Any(char.IsWhiteSpace))
        {
            return Block.Invalid;
        }

        var json = JsonScan.SkipSpace(text, args + Args.Length);
        if (json >= text.Length)
        {
            return Block.Incomplete([new PartialToolCall(name, "", false)]);
        }

        if (text[json] != '{')
        {
            return Block.Invalid;
        }

        var end = JsonScan.EndOfContainer(text, json);
        if (end < 0)
        {
            return Block.Incomplete([new PartialToolCall(name, text[json..], false)]);
        }

        var arguments = text[json..end];
        return JsonScan.IsValid(arguments) ? new Block([new PartialToolCall(name, arguments, true)], end, true) : Block.Invalid;
    }
}
