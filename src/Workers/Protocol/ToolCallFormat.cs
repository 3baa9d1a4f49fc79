using System.Text.Json;

namespace Serving.Workers.Protocol;

/// <summary>
/// The tool-call format of our chat template (Hermes/Qwen style, which most open models are trained on):
/// the model writes <c>&lt;tool_call&gt;{"name": "...", "arguments": {...}}&lt;/tool_call&gt;</c>, one block per call.
/// The same format is used to render an assistant message's earlier <c>tool_calls</c> back into the prompt,
/// so a returning turn's prompt extends the tokens the session already holds.
/// </summary>
public static class ToolCallFormat
{
    public const string Open = "<tool_call>";
    public const string Close = "</tool_call>";

    /// <summary>A parsed call: the function name and its arguments as a JSON string.</summary>
    public sealed record ParsedToolCall(string Name, string ArgumentsJson);

    /// <summary>
    /// Splits generated text into the plain content before the first call and the calls. Blocks that are not
    /// valid JSON with a string "name" are left in the content: we never invent a call the model did not make.
    /// </summary>
    public static (string Content, IReadOnlyList<ParsedToolCall> Calls) Parse(string text)
    {
        var calls = new List<ParsedToolCall>();
        var first = text.IndexOf(Open, StringComparison.Ordinal);
        if (first < 0)
        {
            return (text, calls);
        }

        var position = first;
        while (position >= 0)
        {
            var bodyStart = position + Open.Length;
            var end = text.IndexOf(Close, bodyStart, StringComparison.Ordinal);
            // An unterminated last block (cut by max_tokens or a stop string) is accepted if its JSON is complete.
            var body = end < 0 ? text[bodyStart..] : text[bodyStart..end];
            if (TryParseCall(body.Trim(), out var call))
            {
                calls.Add(call);
            }
            else
            {
                return (text, []);
            }

            position = end < 0 ? -1 : text.IndexOf(Open, end + Close.Length, StringComparison.Ordinal);
        }

        return (text[..first].TrimEnd(), calls);
    }

    /// <summary>
    /// How much of streamed text can go out as plain content: everything before a tool-call block, minus a tail that
    /// could still grow into one ("<tool_c" might be the start of "<tool_call>").
    /// </summary>
    public static int SafeContentLength(string text)
    {
        var open = text.IndexOf(Open, StringComparison.Ordinal);
        return open >= 0 ? open : text.Length - PartialMarker.TailLength(text, Open);
    }

    /// <summary>Renders calls the way the model is expected to write them.</summary>
    public static string Render(IEnumerable<ParsedToolCall> calls) =>
        string.Join("\n", calls.Select(c => $"{Open}\n{{\"name\": {JsonSerializer.Serialize(c.Name)}, \"arguments\": {c.ArgumentsJson}}}\n{Close}"));

    private static bool TryParseCall(string json, out ParsedToolCall call)
    {
        call = null!;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            var arguments = root.TryGetProperty("arguments", out var args) ? args.GetRawText() : "{}";
            call = new ParsedToolCall(name.GetString()!, arguments);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
