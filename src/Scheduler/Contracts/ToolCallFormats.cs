namespace Serving.Scheduler.Contracts;

/// <summary>
/// The tool-call formats gateway and workers name to each other (a worker's ready line and <c>/stats</c>,
/// <see cref="GenerateCall.ToolCallFormat"/>): the ones the gateway can write tool grammars in.
/// </summary>
public static class ToolCallFormats
{
    public const string Hermes = "hermes";
    public const string Llama3 = "llama3";
    public const string QwenCoder = "qwen3-coder";

    /// <summary>Mistral's call list: <c>[TOOL_CALLS][{"name": …, "arguments": {…}}, …]</c> (Nemo).</summary>
    public const string Mistral = "mistral";

    /// <summary>Mistral's named calls: <c>[TOOL_CALLS]NAME[ARGS]{…}</c> each (Small 3.2, Devstral, Ministral 3).</summary>
    public const string MistralV11 = "mistral-v11";

    /// <summary>DeepSeek V3 / R1: <c>…function&lt;｜tool▁sep｜&gt;NAME</c>, arguments in a json code fence.</summary>
    public const string DeepSeek = "deepseek";

    /// <summary>DeepSeek V3.1: <c>…NAME&lt;｜tool▁sep｜&gt;{…}</c>.</summary>
    public const string DeepSeekV31 = "deepseek-v3.1";

    /// <summary>Formats whose calls a grammar can force (<c>tool_choice: "required"</c> or a named function).</summary>
    public static IReadOnlyList<string> Enforced { get; } = [Hermes, Llama3, QwenCoder, Mistral, MistralV11, DeepSeek, DeepSeekV31];

    /// <summary>The 400 message for a forced tool choice on a model whose format is not one of <see cref="Enforced"/>.</summary>
    public static string NotEnforced(string format) =>
        $"The model writes tool calls in the '{format}' format, which this server cannot enforce; use tool_choice \"auto\" " +
        $"(formats it enforces: {string.Join(", ", Enforced)}).";
}
