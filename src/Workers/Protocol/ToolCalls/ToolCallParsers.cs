namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>Picks the tool-call format from the chat template's markers (as llama.cpp and vLLM do), or by name.</summary>
public static class ToolCallParsers
{
    public static IReadOnlyList<IToolCallParser> All { get; } =
    [
        new HermesToolCalls(), new QwenCoderToolCalls(), new LlamaToolCalls(), new MistralToolCalls(namedCalls: false),
        new MistralToolCalls(namedCalls: true),
        new DeepSeekToolCalls(fenced: true), new DeepSeekToolCalls(fenced: false), new HarmonyToolCalls(),
    ];

    public static IToolCallParser Default => All[0];

    /// <summary>The parser named <paramref name="name"/> (<c>--tool-parser</c>), null when there is none.</summary>
    public static IToolCallParser? ByName(string name) => All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The format a template teaches. Checked most specific first: Qwen3-Coder's template also writes &lt;tool_call&gt;.
    /// Templates without tool markers get our Hermes instructions, so Hermes parses their output.
    /// </summary>
    public static IToolCallParser ForTemplate(string source) =>
        source.Contains("<function=", StringComparison.Ordinal) && source.Contains("<parameter=", StringComparison.Ordinal) ? ByName("qwen3-coder")!
        : source.Contains("<tool_call>", StringComparison.Ordinal) ? ByName("hermes")!
        : source.Contains("[TOOL_CALLS]", StringComparison.Ordinal) ? ByName(source.Contains("[ARGS]", StringComparison.Ordinal) ? "mistral-v11" : "mistral")!
        : source.Contains("tool▁calls▁begin", StringComparison.Ordinal) ? ByName(source.Contains("```json", StringComparison.Ordinal) ? "deepseek" : "deepseek-v3.1")!
        : source.Contains("<|channel|>", StringComparison.Ordinal) ? ByName("gpt-oss")!
        : source.Contains("<|python_tag|>", StringComparison.Ordinal) || (source.Contains("<|start_header_id|>", StringComparison.Ordinal) && source.Contains("ipython", StringComparison.Ordinal)) ? ByName("llama3")!
        : Default;
}
