namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Reads one model family's tool-call syntax out of generated text. Used twice per turn: while streaming (text so far,
/// <c>final</c> false: content that can no longer become a call, and the calls seen so far, the last perhaps still
/// growing) and at the end (<c>final</c> true). A call to a tool that was not offered, or one that does not parse, is
/// content; text before and after calls is content.
/// </summary>
public interface IToolCallParser
{
    /// <summary>The name <c>--tool-parser</c> takes.</summary>
    string Name { get; }

    /// <summary>Control-token texts the model writes around calls; the engine shows them in generated text.</summary>
    IReadOnlyList<string> Markers { get; }

    /// <summary>
    /// True when the answer itself is wrapped in the format (gpt-oss's channels), so every answer is read, not only
    /// those of requests that offered tools.
    /// </summary>
    bool ReadsEveryAnswer => false;

    ToolCallSnapshot Parse(string text, OfferedTools tools, bool final);
}

/// <summary>
/// The parse of the text so far. While streaming, <see cref="Content"/> only grows and a call's
/// <see cref="PartialToolCall.Arguments"/> only grows, so deltas can be sent as they come.
/// </summary>
public sealed record ToolCallSnapshot(string Content, IReadOnlyList<PartialToolCall> Calls)
{
    /// <summary>The model's thinking (<c>&lt;think&gt;…&lt;/think&gt;</c>), sent as <c>reasoning_content</c>; only grows while streaming.</summary>
    public string Reasoning { get; init; } = "";

    public static ToolCallSnapshot Text(string content) => new(content, []);
}

/// <summary>A call: its name and its arguments as JSON text (complete once <see cref="Complete"/>).</summary>
public sealed record PartialToolCall(string Name, string Arguments, bool Complete);

/// <summary>The tools a request offered: names, and each parameter's JSON Schema type (for formats that write raw values).</summary>
public sealed class OfferedTools
{
    private readonly Dictionary<string, Dictionary<string, string>> _parameterTypes;

    private OfferedTools(Dictionary<string, Dictionary<string, string>> parameterTypes) => _parameterTypes = parameterTypes;

    public static OfferedTools None { get; } = new([]);

    public bool Contains(string name) => _parameterTypes.ContainsKey(name);

    /// <summary>The declared type of a parameter ("string", "integer", ...), null when unknown.</summary>
    public string? ParameterType(string tool, string parameter) =>
        _parameterTypes.TryGetValue(tool, out var types) && types.TryGetValue(parameter, out var type) ? type : null;

    /// <summary>Reads an OpenAI <c>tools</c> array.</summary>
    public static OfferedTools FromJson(string? toolsJson)
    {
        var tools = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        if (toolsJson is null)
        {
            return new OfferedTools(tools);
        }

        using var document = System.Text.Json.JsonDocument.Parse(toolsJson);
        foreach (var tool in document.RootElement.EnumerateArray())
        {
            var function = tool.TryGetProperty("function", out var f) ? f : tool;
            if (!function.TryGetProperty("name", out var name) || name.GetString() is not { } toolName)
            {
                continue;
            }

            var types = new Dictionary<string, string>(StringComparer.Ordinal);
            if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == System.Text.Json.JsonValueKind.Object
                && parameters.TryGetProperty("properties", out var properties) && properties.ValueKind == System.Text.Json.JsonValueKind.Object)
            {
                foreach (var property in properties.EnumerateObject())
                {
                    if (property.Value.ValueKind == System.Text.Json.JsonValueKind.Object
                        && property.Value.TryGetProperty("type", out var type) && type.ValueKind == System.Text.Json.JsonValueKind.String)
                    {
                        types[property.Name] = type.GetString()!;
                    }
                }
            }

            tools[toolName] = types;
        }

        return new OfferedTools(tools);
    }
}
