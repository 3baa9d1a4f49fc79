using System.Text.Json;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Constraints;

/// <summary>
/// How the served model writes a tool call, for the grammars that force (<c>tool_choice: "required"</c> or a named
/// function) or guide (<c>"auto"</c>, lazily) its calls. Workers report their model's format (<c>/stats</c>); the
/// formats here are those whose calls are text a grammar can spell out (Mistral's <c>[TOOL_CALLS]</c> and DeepSeek's
/// <c>&lt;｜tool▁sep｜&gt;</c> are control tokens whose text the grammar matches). gpt-oss's channels get no tool grammar.
/// </summary>
/// <param name="Opening">Before each call's head.</param>
/// <param name="Closing">After each call's arguments.</param>
/// <param name="Separator">Between calls.</param>
public sealed record ToolCallShape(string Format, string ArgumentsKey, string Opening, string Closing, string Separator, string? LazyTrigger)
{
    /// <summary>Before the first call (Mistral's list: <c>[TOOL_CALLS][</c>).</summary>
    public string Before { get; init; } = "";

    /// <summary>After the last call (Mistral's list: <c>]</c>).</summary>
    public string After { get; init; } = "";

    /// <summary>
    /// For formats that write the name as bare text (Mistral's <c>NAME[ARGS]</c>), what follows it; null when the name
    /// is a JSON property of the call object.
    /// </summary>
    public string? AfterBareName { get; init; }

    /// <summary>The call's text up to its arguments object.</summary>
    public string Head(string name) => AfterBareName is { } after
        ? $"{Opening}{name}{after}" // tool names are [a-zA-Z0-9_-] (validated at the gateway): nothing to escape
        : $"{Opening}{{\"name\": {JsonSerializer.Serialize(name)}, \"{ArgumentsKey}\": ";

    /// <summary>The shape of <paramref name="format"/>, or null when calls in that format cannot be constrained.</summary>
    public static ToolCallShape? For(string format) => format switch
    {
        ToolCallFormats.Hermes => new(ToolCallFormats.Hermes, "arguments", "<tool_call>\n", "}\n</tool_call>", "\n", "<tool_call>"),
        // Llama 3 writes the bare object; nothing marks where a call starts, so "auto" cannot wait for one.
        ToolCallFormats.Llama3 => new(ToolCallFormats.Llama3, "parameters", "", "}", "; ", null),
        // Qwen3-Coder writes XML, not a JSON object: see JsonSchemaGrammar.XmlCalls.
        ToolCallFormats.QwenCoder => new(ToolCallFormats.QwenCoder, "", "<tool_call>\n", "</tool_call>", "\n", "<tool_call>"),
        ToolCallFormats.Mistral => new(ToolCallFormats.Mistral, "arguments", "", "}", ", ", "[TOOL_CALLS]") { Before = "[TOOL_CALLS][", After = "]" },
        ToolCallFormats.MistralV11 => new(ToolCallFormats.MistralV11, "", "[TOOL_CALLS]", "", "", "[TOOL_CALLS]") { AfterBareName = "[ARGS]" },
        ToolCallFormats.DeepSeek => new(ToolCallFormats.DeepSeek, "", "<｜tool▁call▁begin｜>function<｜tool▁sep｜>", "\n```<｜tool▁call▁end｜>", "\n", "<｜tool▁calls▁begin｜>")
        {
            AfterBareName = "\n```json\n", Before = "<｜tool▁calls▁begin｜>", After = "<｜tool▁calls▁end｜>",
        },
        ToolCallFormats.DeepSeekV31 => new(ToolCallFormats.DeepSeekV31, "", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "", "<｜tool▁calls▁begin｜>")
        {
            AfterBareName = "<｜tool▁sep｜>", Before = "<｜tool▁calls▁begin｜>", After = "<｜tool▁calls▁end｜>",
        },
        _ => null,
    };
}
