using System.Text.Json.Nodes;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Replay;

/// <summary>
/// The chat messages an agent framework (OpenAI SDK tool loop, LangChain, OpenHands) sends: the workload's tools as
/// function definitions, each answer returned as the assistant message that called the next tool, each tool output
/// as a <c>role: "tool"</c> message answering that call.
/// </summary>
internal static class AgentMessages
{
    private static readonly JsonArray ToolDefinitions = new([.. WorkloadGenerator.Tools.Select(t => (JsonNode)new JsonObject
    {
        ["type"] = "function",
        ["function"] = new JsonObject
        {
            ["name"] = t.Name,
            ["description"] = $"The agent's {t.Name.Replace('_', ' ')} tool.",
            ["parameters"] = new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["target"] = new JsonObject { ["type"] = "string" } },
                ["required"] = new JsonArray("target"),
            },
        },
    })]);

    public static JsonArray Tools() => (JsonArray)ToolDefinitions.DeepClone();

    /// <summary>The answer before turn <paramref name="nextTurn"/>, calling that turn's tool (the model's own text kept as content).</summary>
    public static JsonObject ToolCall(string text, int nextTurn, AgentTurn next) => new()
    {
        ["role"] = "assistant",
        ["content"] = text,
        ["tool_calls"] = new JsonArray(new JsonObject
        {
            ["id"] = CallId(nextTurn),
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = next.ToolName, ["arguments"] = $"{{\"target\":\"step-{nextTurn}\"}}" },
        }),
    };

    public static JsonObject ToolResult(int turn, AgentTurn current) => new()
    {
        ["role"] = "tool",
        ["tool_call_id"] = CallId(turn),
        ["content"] = current.ToolResult,
    };

    private static string CallId(int turn) => $"call_{turn}";
}
