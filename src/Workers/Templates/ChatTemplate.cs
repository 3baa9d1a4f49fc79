using System.Text.Json;
using Serving.Scheduler.Contracts;
using Serving.Workers.Protocol.ToolCalls;

namespace Serving.Workers.Templates;

/// <summary>
/// The model's own chat template (the GGUF's <c>tokenizer.chat_template</c>, or <c>--chat-template FILE</c>), rendered
/// as Hugging Face transformers renders it: <c>messages</c> in OpenAI's shape (assistant <c>tool_calls</c> with their
/// arguments as objects, tool results with <c>tool_call_id</c> and the tool's name), <c>tools</c>,
/// <c>add_generation_prompt</c>, <c>bos_token</c>, <c>eos_token</c>. Like llama-server, a leading BOS text is dropped
/// when the tokenizer adds BOS itself, so the prompt does not start with two.
/// </summary>
public sealed class ChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly string _bosText;
    private readonly string _eosText;
    private readonly bool _tokenizerAddsBos;

    private ChatTemplate(JinjaTemplate template, string source, string bosText, string eosText, bool tokenizerAddsBos)
    {
        _template = template;
        Source = source;
        _bosText = bosText;
        _eosText = eosText;
        _tokenizerAddsBos = tokenizerAddsBos;
        HandlesTools = source.Contains("tools", StringComparison.Ordinal) || source.Contains("tool_calls", StringComparison.Ordinal);
        ToolCalls = ToolCallParsers.ForTemplate(source);
        Thinks = source.Contains(ThinkingSplit.Open, StringComparison.Ordinal);
    }

    /// <summary>The model thinks in <c>&lt;think&gt;</c> blocks before answering (Qwen3, QwQ, DeepSeek R1).</summary>
    public bool Thinks { get; }

    public string Source { get; }

    /// <summary>
    /// Whether the template renders tools or tool calls itself: then it gets them in OpenAI's shape and renders them its
    /// own way (a template that writes calls but no tool list, like DeepSeek V3.1's, gets no list, as with vLLM and
    /// llama-server). Templates that know nothing of tools (plain chat templates) get our Hermes-style tool
    /// instructions in the system message, and calls and results in that style, so tools still work on them.
    /// </summary>
    public bool HandlesTools { get; }

    /// <summary>How this model writes tool calls, chosen from the template's markers.</summary>
    public IToolCallParser ToolCalls { get; }

    /// <summary>Parses a template; null and the reason when our renderer cannot read it.</summary>
    public static ChatTemplate? TryCreate(string source, string bosText, string eosText, bool tokenizerAddsBos, out string? error)
    {
        try
        {
            error = null;
            return new ChatTemplate(JinjaTemplate.Parse(source), source, bosText, eosText, tokenizerAddsBos);
        }
        catch (JinjaException e)
        {
            error = e.Message;
            return null;
        }
    }

    /// <summary>Renders simple role/content turns (our own tool markup already in their text).</summary>
    public string Render(IReadOnlyList<(string Role, string Content)> turns) =>
        Render(turns.Select(t => (JinjaValue)Message(t.Role, JinjaValue.From(t.Content))).ToList(), tools: null);

    /// <summary>Renders the call's messages and tools in OpenAI's shape; content goes through <paramref name="plain"/>.</summary>
    public string Render(GenerateCall call, Func<string, string> plain)
    {
        var names = call.Messages.SelectMany(m => m.ToolCalls ?? []).GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.First().Name);
        var messages = new List<JinjaValue>();
        foreach (var message in call.Messages)
        {
            var value = Message(message.Role, JinjaValue.From(plain(message.Content)));
            if (message.ToolCalls is { Count: > 0 } calls)
            {
                value.Entries["tool_calls"] = new ArrayValue(calls.Select(c => (JinjaValue)new ObjectValue(new(StringComparer.Ordinal)
                {
                    ["id"] = JinjaValue.From(c.Id),
                    ["type"] = JinjaValue.From("function"),
                    ["function"] = new ObjectValue(new(StringComparer.Ordinal)
                    {
                        ["name"] = JinjaValue.From(c.Name),
                        ["arguments"] = Arguments(plain(c.Arguments)),
                    }),
                })).ToList());
            }

            if (message.ReasoningContent is { } reasoning)
            {
                value.Entries["reasoning_content"] = JinjaValue.From(plain(reasoning));
            }

            if (message.ToolCallId is { } id)
            {
                value.Entries["tool_call_id"] = JinjaValue.From(id);
                if (names.TryGetValue(id, out var name))
                {
                    value.Entries["name"] = JinjaValue.From(name);
                }
            }

            messages.Add(value);
        }

        JinjaValue? tools = null;
        if (call.ToolsJson is { } toolsJson)
        {
            using var document = JsonDocument.Parse(plain(toolsJson));
            tools = JinjaValue.FromJson(document.RootElement);
        }

        return Render(messages, tools);
    }

    private string Render(List<JinjaValue> messages, JinjaValue? tools)
    {
        var variables = new Dictionary<string, JinjaValue>(StringComparer.Ordinal)
        {
            ["messages"] = new ArrayValue(messages),
            ["add_generation_prompt"] = JinjaValue.True,
            ["bos_token"] = JinjaValue.From(_bosText),
            ["eos_token"] = JinjaValue.From(_eosText),
            // llama-server's default; templates that can think (Qwen3) read it.
            ["enable_thinking"] = JinjaValue.True,
        };
        if (tools is not null)
        {
            variables["tools"] = tools;
        }

        var text = _template.Render(variables);
        return _tokenizerAddsBos && _bosText.Length > 0 && text.StartsWith(_bosText, StringComparison.Ordinal) ? text[_bosText.Length..] : text;
    }

    private static ObjectValue Message(string role, JinjaValue content) => new(new(StringComparer.Ordinal)
    {
        ["role"] = JinjaValue.From(role),
        ["content"] = content,
    });

    /// <summary>Arguments as an object (templates write them with <c>tojson</c>); text that is not JSON stays text.</summary>
    private static JinjaValue Arguments(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return JinjaValue.FromJson(document.RootElement);
        }
        catch (JsonException)
        {
            return JinjaValue.From(json);
        }
    }
}
