using System.Text.Json;

namespace Serving.Workers.Protocol;

/// <summary>
/// The tool-call format our own tool instructions teach (Hermes/Qwen style, which most open models are trained on):
/// the model writes <c>&lt;tool_call&gt;{"name": "...", "arguments": {...}}&lt;/tool_call&gt;</c>, one block per call.
/// The same format renders an assistant message's earlier <c>tool_calls</c> back into the prompt, so a returning
/// turn's prompt extends the tokens the session already holds. <see cref="ToolCalls.HermesToolCalls"/> reads it.
/// </summary>
public static class ToolCallFormat
{
    public const string Open = "<tool_call>";
    public const string Close = "</tool_call>";

    /// <summary>A parsed call: the function name and its arguments as a JSON string.</summary>
    public sealed record ParsedToolCall(string Name, string ArgumentsJson);

    /// <summary>Renders calls the way the model is expected to write them.</summary>
    public static string Render(IEnumerable<ParsedToolCall> calls) =>
        string.Join("\n", calls.Select(c => $"{Open}\n{{\"name\": {JsonSerializer.Serialize(c.Name)}, \"arguments\": {c.ArgumentsJson}}}\n{Close}"));
}
