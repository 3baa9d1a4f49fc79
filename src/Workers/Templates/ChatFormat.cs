using Serving.Workers.Protocol.ToolCalls;

namespace Serving.Workers.Templates;

/// <summary>
/// How a model's conversations are written: its Jinja chat template (null: llama.cpp's built-in templates render
/// role/content turns) and the tool-call format its output is parsed with.
/// </summary>
public sealed record ChatFormat(ChatTemplate? Template, IToolCallParser ToolCalls)
{
    /// <summary>No template of our own: llama.cpp's template heuristics, our Hermes tool instructions and parser.</summary>
    public static ChatFormat Builtin { get; } = new(null, ToolCallParsers.Default);
}
