using System.Text;
using System.Text.Json;
using Serving.Scheduler.Contracts;
using Serving.Workers.Engine;
using Serving.Workers.Protocol;

namespace Serving.Workers.Api;

/// <summary>
/// Renders a chat request into prompt text with the model's chat template. A template that renders tools itself gets
/// the messages and tools in OpenAI's shape. Otherwise tools go into the system prompt in the Hermes style most open
/// models are trained on, and earlier tool calls and results are rendered the way the model wrote and read them, so
/// the next turn's prompt extends the tokens the session already holds.
/// </summary>
internal static class PromptRenderer
{
    public static string Render(IInferenceEngine engine, GenerateCall call)
    {
        if (call.Kind == GenerateCall.CompletionKind)
        {
            return call.Prompt ?? "";
        }

        var template = engine.Chat.Template;
        if (template is { HandlesTools: true })
        {
            return template.Render(call, engine.AsPlainText);
        }

        var turns = new List<ChatTurn>();
        var tools = ToolInstructions(call.ToolsJson, engine.AsPlainText);
        var messages = call.Messages;
        var start = 0;
        if (tools is not null)
        {
            var system = messages.Count > 0 && messages[0].Role is "system" or "developer" ? engine.AsPlainText(messages[0].Content) + "\n\n" : "";
            start = system.Length > 0 ? 1 : 0;
            turns.Add(new ChatTurn("system", system + tools));
        }

        for (var i = start; i < messages.Count; i++)
        {
            turns.Add(Render(messages[i], engine.AsPlainText));
        }

        return template is not null
            ? template.Render(turns.Select(t => (t.Role, t.Content)).ToList())
            : engine.ApplyChatTemplate(turns, addAssistantPrompt: true);
    }

    /// <summary>One message: its content as plain text (<see cref="IInferenceEngine.AsPlainText"/>), our own markup around it.</summary>
    private static ChatTurn Render(CallMessage message, Func<string, string> plain) => message.Role switch
    {
        "developer" => new ChatTurn("system", plain(message.Content)),
        "assistant" when message.ToolCalls is { Count: > 0 } calls => new ChatTurn("assistant",
            (message.Content.Length > 0 ? plain(message.Content) + "\n" : "") +
            ToolCallFormat.Render(calls.Select(c => new ToolCallFormat.ParsedToolCall(c.Name, plain(c.Arguments))))),
        "tool" => new ChatTurn("tool", $"<tool_response>\n{plain(message.Content)}\n</tool_response>"),
        _ => new ChatTurn(message.Role, plain(message.Content)),
    };

    private static string? ToolInstructions(string? toolsJson, Func<string, string> plain)
    {
        if (toolsJson is null)
        {
            return null;
        }

        var text = new StringBuilder();
        text.Append("You may call one or more functions to assist with the user query. ");
        text.Append("Function signatures are within <tools></tools> XML tags:\n<tools>\n");
        using var doc = JsonDocument.Parse(toolsJson);
        foreach (var tool in doc.RootElement.EnumerateArray())
        {
            text.Append(plain(tool.TryGetProperty("function", out var function) ? function.GetRawText() : tool.GetRawText())).Append('\n');
        }

        text.Append("</tools>\nFor each function call, return a JSON object with the function name and arguments within ");
        text.Append(ToolCallFormat.Open).Append(ToolCallFormat.Close).Append(" tags:\n").Append(ToolCallFormat.Open);
        text.Append("\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n").Append(ToolCallFormat.Close);
        return text.ToString();
    }
}
