using System.Text;

namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Formats where calls sit in blocks that open with a marker (<c>&lt;tool_call&gt;</c>, <c>[TOOL_CALLS]</c>, ...) between
/// ordinary text. This class finds the blocks, keeps the text around them as content (white space next to a call
/// dropped), and holds back a tail that could still become a marker; a subclass reads one block's calls.
/// </summary>
public abstract class DelimitedToolCallParser : IToolCallParser
{
    public abstract string Name { get; }

    /// <summary>The text a block starts with.</summary>
    protected abstract string Open { get; }

    /// <summary>The text a block ends with, if the family closes blocks (it may be missing when output was cut).</summary>
    protected virtual string? Close => null;

    public virtual IReadOnlyList<string> Markers => [Open];

    /// <summary>The result of reading one block's body.</summary>
    protected readonly record struct Block(List<PartialToolCall> Calls, int End, bool Valid)
    {
        /// <summary>The body stops before it is complete (streaming): calls so far, the last perhaps partial.</summary>
        public static Block Incomplete(List<PartialToolCall> calls) => new(calls, -1, true);

        public static Block Invalid => new([], -1, false);
    }

    /// <summary>
    /// Reads the calls of the block whose body starts at <paramref name="start"/>. <see cref="Block.End"/> is where
    /// the body ends (before any <see cref="Close"/>), or -1 while the text stops inside it.
    /// </summary>
    protected abstract Block ReadBlock(string text, int start, OfferedTools tools);

    public ToolCallSnapshot Parse(string text, OfferedTools tools, bool final)
    {
        var content = new StringBuilder();
        var calls = new List<PartialToolCall>();
        var position = 0;
        var afterCall = false;
        while (true)
        {
            var open = text.IndexOf(Open, position, StringComparison.Ordinal);
            if (open < 0)
            {
                var tail = text[position..];
                if (!final)
                {
                    // A tail that may still grow into the marker, and trailing white space that may precede a call.
                    tail = tail[..(tail.Length - PartialMarker.TailLength(tail, Open))].TrimEnd();
                }

                content.Append(afterCall ? tail.TrimStart() : tail);
                break;
            }

            var block = ReadBlock(text, open + Open.Length, tools);
            var offered = block.Calls.All(c => tools.Contains(c.Name));
            if (!block.Valid || !offered || (final && block.End < 0))
            {
                // Not a call after all (or cut off): the marker and everything after it are text.
                var rest = text[position..];
                content.Append(afterCall ? rest.TrimStart() : rest);
                break;
            }

            var before = text[position..open].TrimEnd();
            content.Append(afterCall ? before.TrimStart() : before);
            calls.AddRange(block.Calls);
            if (block.End < 0)
            {
                break;
            }

            position = SkipClose(text, block.End, final, out var holdRest);
            if (holdRest)
            {
                break;
            }

            afterCall = true;
        }

        return new ToolCallSnapshot(content.ToString(), calls);
    }

    /// <summary>Past the closing marker (and the white space before it); all of the text while it may still be one.</summary>
    private int SkipClose(string text, int end, bool final, out bool holdRest)
    {
        holdRest = false;
        if (Close is null)
        {
            return end;
        }

        var i = JsonScan.SkipSpace(text, end);
        if (string.CompareOrdinal(text, i, Close, 0, Close.Length) == 0 && i + Close.Length <= text.Length)
        {
            return i + Close.Length;
        }

        holdRest = !final && Close.StartsWith(text[i..], StringComparison.Ordinal);
        return end;
    }

    /// <summary>
    /// Reads a JSON call object <c>{"name": ..., "&lt;argumentsKey&gt;": {...}}</c> at <paramref name="start"/>. While it
    /// is still growing, the name is known once written and the arguments are the text so far (name written first).
    /// </summary>
    protected static Block ReadJsonCall(string text, int start, params string[] argumentKeys)
    {
        var i = JsonScan.SkipSpace(text, start);
        if (i >= text.Length)
        {
            return Block.Incomplete([]);
        }

        if (text[i] != '{')
        {
            return Block.Invalid;
        }

        var end = JsonScan.EndOfContainer(text, i);
        if (end < 0)
        {
            return Block.Incomplete(PartialJsonCall(text[i..], argumentKeys) is { } partial ? [partial] : []);
        }

        return JsonScan.Call(text[i..end], argumentKeys) is { } call ? new Block([call], end, true) : Block.Invalid;
    }

    private static readonly System.Text.RegularExpressions.Regex NameFirst =
        new(@"^\{\s*""name""\s*:\s*""((?:[^""\\]|\\.)*)""\s*,\s*""(\w+)""\s*:\s*", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>The name and the arguments so far of a call object still being written, when its name came first.</summary>
    private static PartialToolCall? PartialJsonCall(string prefix, string[] argumentKeys)
    {
        var match = NameFirst.Match(prefix);
        if (!match.Success || !argumentKeys.Contains(match.Groups[2].Value))
        {
            return null;
        }

        var arguments = prefix[match.Length..];
        if (arguments.Length > 0 && arguments[0] != '{')
        {
            return null;
        }

        // Arguments already closed while the call object is not (more keys follow): they are complete.
        var end = JsonScan.EndOfContainer(arguments, 0);
        if (end >= 0)
        {
            arguments = arguments[..end];
        }

        var name = System.Text.Json.JsonSerializer.Deserialize<string>("\"" + match.Groups[1].Value + "\"")!;
        return new PartialToolCall(name, arguments, false);
    }
}
