using System.Text.Json;
using System.Text.RegularExpressions;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Api;

/// <summary>The chat-specific rules: messages, content parts, earlier tool calls, tools and tool_choice.</summary>
public sealed partial class RequestValidator
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();

    private List<CallMessage> Messages(JsonElement body)
    {
        if (!body.TryGetProperty("messages", out var list))
        {
            throw Fail("messages", "Missing required parameter: 'messages'.", "missing_required_parameter");
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            throw Fail("messages", "'messages' must be an array.", "invalid_type");
        }

        var count = list.GetArrayLength();
        if (count == 0)
        {
            throw Fail("messages", "'messages' must contain at least one message.", "empty_array");
        }

        if (count > options.MaxMessages)
        {
            throw Fail("messages", $"'messages' has {count} entries; at most {options.MaxMessages} are accepted.");
        }

        var messages = new List<CallMessage>(count);
        var i = 0;
        foreach (var m in list.EnumerateArray())
        {
            messages.Add(Message(m, $"messages[{i++}]"));
        }

        return messages;
    }

    private static CallMessage Message(JsonElement m, string at)
    {
        if (m.ValueKind != JsonValueKind.Object)
        {
            throw Fail(at, $"'{at}' must be an object.", "invalid_type");
        }

        var role = RequiredString(m, "role", at);
        if (!Roles.Contains(role))
        {
            throw Fail($"{at}.role", $"Invalid value '{role}' for '{at}.role': expected one of system, developer, user, assistant, tool.");
        }

        var calls = role == "assistant" ? ToolCalls(m, at) : null;
        var content = Content(m, at, allowNull: calls is { Count: > 0 });
        string? toolCallId = null;
        if (role == "tool")
        {
            toolCallId = RequiredString(m, "tool_call_id", at);
        }

        // A thinking model's reasoning, as our responses carry it: templates that keep it (Qwen3, within an agent's
        // tool loop) render it back, so the prompt matches what the model wrote.
        string? reasoning = null;
        if (role == "assistant" && m.TryGetProperty("reasoning_content", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            reasoning = r.ValueKind == JsonValueKind.String ? r.GetString() : throw Fail($"{at}.reasoning_content", $"'{at}.reasoning_content' must be a string.", "invalid_type");
        }

        return new CallMessage { Role = role, Content = content, ToolCalls = calls, ToolCallId = toolCallId, ReasoningContent = reasoning };
    }

    /// <summary>String content, or an array of text parts joined; images and audio are refused (text-only model).</summary>
    private static string Content(JsonElement m, string at, bool allowNull)
    {
        if (!m.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            return allowNull ? "" : throw Fail($"{at}.content", $"Missing required parameter: '{at}.content'.", "missing_required_parameter");
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw Fail($"{at}.content", $"'{at}.content' must be a string or an array of content parts.", "invalid_type");
        }

        var parts = new List<string>();
        foreach (var part in content.EnumerateArray())
        {
            var type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type != "text" || !part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
            {
                throw Fail($"{at}.content", $"Only text content parts ({{\"type\":\"text\",\"text\":...}}) are supported in '{at}.content'.");
            }

            parts.Add(text.GetString()!);
        }

        return string.Join("\n", parts);
    }

    private static List<CallToolCall>? ToolCalls(JsonElement m, string at)
    {
        if (!m.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (calls.ValueKind != JsonValueKind.Array)
        {
            throw Fail($"{at}.tool_calls", $"'{at}.tool_calls' must be an array.", "invalid_type");
        }

        var result = new List<CallToolCall>();
        var i = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var path = $"{at}.tool_calls[{i++}]";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw Fail(path, $"'{path}' must be an object with a 'function' object.", "invalid_type");
            }

            var arguments = RequiredString(function, "arguments", path + ".function");
            result.Add(new CallToolCall(RequiredString(call, "id", path), RequiredString(function, "name", path + ".function"), ArgumentsJson(arguments, path)));
        }

        return result;
    }

    /// <summary>Arguments are JSON text; a non-JSON string is kept as a JSON string so the prompt stays well-formed.</summary>
    private static string ArgumentsJson(string arguments, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(arguments);
            return doc.RootElement.GetRawText();
        }
        catch (JsonException)
        {
            return JsonSerializer.Serialize(arguments);
        }
    }

    private string? Tools(JsonElement body, string? choice)
    {
        if (!body.TryGetProperty("tools", out var tools) || tools.ValueKind == JsonValueKind.Null)
        {
            return choice is null or "none" or "auto" ? null : throw Fail("tool_choice", "'tool_choice' requires 'tools'.");
        }

        if (tools.ValueKind != JsonValueKind.Array || tools.GetArrayLength() > 128)
        {
            throw Fail("tools", "'tools' must be an array of at most 128 function tools.", "invalid_type");
        }

        var names = new HashSet<string>();
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var at = $"tools[{i++}]";
            if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function"
                || !tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw Fail(at, $"'{at}' must be {{\"type\":\"function\",\"function\":{{...}}}}.", "invalid_type");
            }

            var name = RequiredString(function, "name", at + ".function");
            if (!FunctionName().IsMatch(name))
            {
                throw Fail($"{at}.function.name", $"Invalid function name '{name}': use 1-64 letters, digits, '_' or '-'.");
            }

            if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            {
                throw Fail($"{at}.function.parameters", $"'{at}.function.parameters' must be a JSON Schema object.", "invalid_type");
            }

            names.Add(name);
        }

        if (choice is not null && choice is not ("none" or "auto" or "required") && !names.Contains(choice))
        {
            throw Fail("tool_choice", $"tool_choice names function '{choice}', which is not in 'tools'.");
        }

        return choice == "none" || names.Count == 0 ? null : tools.GetRawText();
    }

    private static string? ToolChoice(JsonElement body)
    {
        if (!body.TryGetProperty("tool_choice", out var choice) || choice.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto" or "required")
        {
            return choice.GetString();
        }

        if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object
            && f.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
        {
            return name.GetString();
        }

        throw Fail("tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}.");
    }
}
