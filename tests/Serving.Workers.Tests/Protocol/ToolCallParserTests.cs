using System.Text.Json;
using System.Text.Json.Nodes;
using Serving.Workers.Protocol.ToolCalls;
using Serving.Workers.Templates;

namespace Serving.Workers.Tests.Protocol;

/// <summary>
/// Each family's parser against its model's real chat template: the template renders an assistant turn with tool
/// calls (what the model was trained to write), and parsing that text gives the same calls back; parsing it while it
/// grows, character by character, only ever adds to content and arguments, and adds up to the final parse.
/// </summary>
public sealed class ToolCallParserTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Templates", "llama.cpp");

    private static readonly OfferedTools Tools = OfferedTools.FromJson("""
        [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
           "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}},
         {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]
        """);

    private static readonly (string Name, string Arguments)[] TwoCalls =
        [("get_weather", """{"city": "Paris", "days": 3}"""), ("search", """{"query": "tour \"Eiffel\" hours"}""")];

    public static TheoryData<string, string, string, int> Families => new()
    {
        // template, expected parser, end-of-turn text the model would stop at, calls the template allows
        { "Qwen-Qwen2.5-7B-Instruct.jinja", "hermes", "<|im_end|>", 2 },
        { "Qwen3-Coder.jinja", "qwen3-coder", "<|im_end|>", 2 },
        { "meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3", "<|eot_id|>", 1 },
        { "meta-llama-Llama-3.3-70B-Instruct.jinja", "llama3", "<|eot_id|>", 1 },
        { "mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral", "</s>", 2 },
        { "Mistral-Small-3.2-24B-Instruct-2506.jinja", "mistral-v11", "</s>", 2 },
        { "deepseek-ai-DeepSeek-V3.1.jinja", "deepseek-v3.1", "<｜end▁of▁sentence｜>", 2 },
        { "llama-cpp-deepseek-r1.jinja", "deepseek", "<｜end▁of▁sentence｜>", 2 },
        { "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek", "<｜end▁of▁sentence｜>", 2 },
        { "openai-gpt-oss-120b.jinja", "gpt-oss", "<|call|>", 1 },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void RenderedCallsParseBack_AndStreamedParsesAddUp(string file, string family, string endOfTurn, int callCount)
    {
        var source = File.ReadAllText(Path.Combine(Folder, file));
        var parser = ToolCallParsers.ForTemplate(source);
        Assert.Equal(family, parser.Name);
        var calls = TwoCalls.Take(callCount).ToArray();
        var text = ModelSideText(source, calls, endOfTurn);

        var parsed = parser.Parse(text, Tools, final: true);
        Assert.Equal(calls.Select(c => c.Name), parsed.Calls.Select(c => c.Name));
        foreach (var (expected, actual) in calls.Zip(parsed.Calls))
        {
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected.Arguments), JsonNode.Parse(actual.Arguments)), $"{expected.Arguments} vs {actual.Arguments}");
        }

        Assert.Equal("", parsed.Content.Trim());
        AssertStreamAddsUp(parser, text);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void CallsToToolsNotOffered_AreContent(string file, string family, string endOfTurn, int callCount)
    {
        _ = family;
        var source = File.ReadAllText(Path.Combine(Folder, file));
        var text = ModelSideText(source, TwoCalls.Take(callCount).ToArray(), endOfTurn);
        var parsed = ToolCallParsers.ForTemplate(source).Parse(text, OfferedTools.FromJson("""[{"type": "function", "function": {"name": "other"}}]"""), final: true);
        Assert.Empty(parsed.Calls);
        Assert.NotEqual("", parsed.Content);
    }

    [Fact]
    public void Hermes_KeepsTextAroundCalls_AndNeverInventsACallFromBrokenJson()
    {
        var hermes = ToolCallParsers.ByName("hermes")!;
        var parsed = hermes.Parse("Let me look.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>\nDone.", Tools, final: true);
        Assert.Equal(("Let me look.Done.", "search"), (parsed.Content, parsed.Calls.Single().Name));
        var broken = hermes.Parse("<tool_call>{not json</tool_call>", Tools, final: true);
        Assert.Empty(broken.Calls);
        Assert.Equal("<tool_call>{not json</tool_call>", broken.Content);
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("text <tool_c", "text")]
    [InlineData("text <tool_call>{\"name\"", "text")]
    [InlineData("a < b", "a < b")]
    public void Hermes_WhileStreaming_HoldsBackOnlyWhatMayBeACall(string text, string content) =>
        Assert.Equal(content, ToolCallParsers.ByName("hermes")!.Parse(text, Tools, final: false).Content);

    [Fact]
    public void Harmony_FinalChannelIsContent_AnalysisIsReasoning()
    {
        var text = "<|channel|>analysis<|message|>User greets.<|end|><|start|>assistant<|channel|>final<|message|>Hello!";
        var parsed = ToolCallParsers.ByName("gpt-oss")!.Parse(text, OfferedTools.None, final: true);
        Assert.Equal(("Hello!", "User greets."), (parsed.Content, parsed.Reasoning));
        Assert.Empty(parsed.Calls);
    }

    [Fact]
    public void Llama3_PlainAnswerIsContent_AndACallWithTextAfterKeepsTheText()
    {
        var llama = ToolCallParsers.ByName("llama3")!;
        Assert.Equal("The weather is fine.", llama.Parse("The weather is fine.", Tools, final: true).Content);
        var parsed = llama.Parse("<|python_tag|>{\"name\": \"search\", \"parameters\": {\"query\": \"x\"}}; then more", Tools, final: true);
        Assert.Equal(("search", "then more"), (parsed.Calls.Single().Name, parsed.Content));
    }

    [Fact]
    public void QwenCoder_ReadsValuesByTheirDeclaredType()
    {
        var text = "<tool_call>\n<function=get_weather>\n<parameter=city>\n1984\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
        var call = ToolCallParsers.ByName("qwen3-coder")!.Parse(text, Tools, final: true).Calls.Single();
        Assert.Equal("""{"city": "1984", "days": 3}""", call.Arguments);
    }

    [Theory]
    [InlineData("<think>\nplan: read the file\n</think>\n\nIt says hi.", false, "plan: read the file\n", "It says hi.")]
    [InlineData("plan: read the file\n</think>\n\nIt says hi.", true, "plan: read the file\n", "It says hi.")]
    [InlineData("No thinking here.", false, "", "No thinking here.")]
    [InlineData("<think>\ncut short by max_tokens", false, "cut short by max_tokens", "")]
    public void Thinking_IsSplitFromTheAnswer_AndOnlyGrowsWhileStreaming(string text, bool startsInside, string reasoning, string answer)
    {
        Assert.Equal((reasoning, answer), ThinkingSplit.Split(text, startsInside, final: true));
        var previous = ("", "");
        for (var length = 1; length <= text.Length; length++)
        {
            var now = ThinkingSplit.Split(text[..length], startsInside, final: false);
            Assert.StartsWith(previous.Item1, now.Reasoning);
            Assert.StartsWith(previous.Item2, now.Answer);
            Assert.StartsWith(now.Reasoning, reasoning);
            Assert.StartsWith(now.Answer, answer);
            previous = now;
        }
    }

    /// <summary>What the model writes for an assistant turn with these calls: the render with it minus the render without it.</summary>
    private static string ModelSideText(string source, (string Name, string Arguments)[] calls, string endOfTurn)
    {
        var template = JinjaTemplate.Parse(source);
        var user = new JsonObject { ["role"] = "user", ["content"] = "Weather in Paris, and when is the tower open?" };
        var toolCalls = new JsonArray(calls.Select((c, i) => (JsonNode)new JsonObject
        {
            ["id"] = $"call{i}abcd", // nine letters and digits: Mistral's templates insist
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = JsonNode.Parse(c.Arguments) },
        }).ToArray());
        var assistant = new JsonObject { ["role"] = "assistant", ["content"] = "", ["tool_calls"] = toolCalls };
        var tools = JsonNode.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object",
               "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}},
             {"type": "function", "function": {"name": "search", "description": "Search", "parameters": {"type": "object",
               "properties": {"query": {"type": "string"}}, "required": ["query"]}}}]
            """)!;
        string Render(JsonArray messages, bool generationPrompt) => template.Render(new Dictionary<string, JinjaValue>
        {
            ["messages"] = JinjaValue.FromJson(JsonSerializer.SerializeToElement(messages)),
            ["tools"] = JinjaValue.FromJson(JsonSerializer.SerializeToElement(tools)),
            ["add_generation_prompt"] = JinjaValue.From(generationPrompt),
            ["bos_token"] = JinjaValue.From("<s>"),
            ["eos_token"] = JinjaValue.From("</s>"),
        });

        var prompt = Render([user.DeepClone()], generationPrompt: true);
        var full = Render([user.DeepClone(), assistant], generationPrompt: false);
        // What the generation prompt and the rendered turn share (a thinking template's prompt ends in "<think>").
        var shared = 0;
        while (shared < prompt.Length && shared < full.Length && prompt[shared] == full[shared])
        {
            shared++;
        }

        while (shared < prompt.Length && shared > 0 && full[shared - 1] is not ('>' or '\n'))
        {
            shared--; // diverged inside a tag ("<think>" vs "<｜tool…"): start at the tag
        }

        Assert.True(shared > prompt.Length - 20, "the rendered turn does not extend the generation prompt");
        var text = full[shared..];
        var end = text.IndexOf(endOfTurn, StringComparison.Ordinal);
        Assert.True(end >= 0, $"no {endOfTurn} in the rendered turn: {text}");
        return text[..end];
    }

    private static void AssertStreamAddsUp(IToolCallParser parser, string text)
    {
        var final = parser.Parse(text, Tools, final: true);
        var previous = new ToolCallSnapshot("", []);
        for (var length = 1; length <= text.Length; length++)
        {
            var snapshot = parser.Parse(text[..length], Tools, final: false);
            Assert.StartsWith(previous.Content, snapshot.Content);
            Assert.StartsWith(snapshot.Content, final.Content);
            Assert.True(snapshot.Calls.Count >= previous.Calls.Count && snapshot.Calls.Count <= final.Calls.Count, $"calls went from {previous.Calls.Count} to {snapshot.Calls.Count} at {length}");
            for (var i = 0; i < snapshot.Calls.Count; i++)
            {
                Assert.Equal(final.Calls[i].Name, snapshot.Calls[i].Name);
                Assert.StartsWith(snapshot.Calls[i].Arguments, final.Calls[i].Arguments);
                if (i < previous.Calls.Count)
                {
                    Assert.StartsWith(previous.Calls[i].Arguments, snapshot.Calls[i].Arguments);
                }
            }

            previous = snapshot;
        }
    }
}
