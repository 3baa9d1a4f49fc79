namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Hermes / Qwen2.5 style, the format our own tool instructions teach:
/// <c>&lt;tool_call&gt;{"name": "...", "arguments": {...}}&lt;/tool_call&gt;</c>, one block per call.
/// </summary>
public sealed class HermesToolCalls : DelimitedToolCallParser
{
    public override string Name => Scheduler.Contracts.ToolCallFormats.Hermes;

    protected override string Open => ToolCallFormat.Open;

    protected override string? Close => ToolCallFormat.Close;

    // <tool_call> is an ordinary (user-defined) token in Qwen vocabularies: nothing for the engine to show.
    public override IReadOnlyList<string> Markers => [];

    protected override Block ReadBlock(string text, int start, OfferedTools tools) => ReadJsonCall(text, start, "arguments", "parameters");
}
