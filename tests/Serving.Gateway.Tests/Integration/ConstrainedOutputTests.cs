using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using NJsonSchema;
using OpenAI.Chat;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>
/// Grammar-constrained output on the random-weight tiny model, whose free output is gibberish: only the grammar can
/// make it valid. Tool calls and JSON answers are validated against their schemas with NJsonSchema.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ConstrainedOutputTests(GatewayFixture gateway)
{
    private const string ReadFile = """{"type":"object","properties":{"path":{"type":"string","maxLength":12},"line":{"type":"integer","minimum":1,"maximum":500}},"required":["path"],"additionalProperties":false}""";
    private const string SetMode = """{"type":"object","properties":{"mode":{"enum":["fast","safe"]},"verbose":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string","maxLength":5},"maxItems":3}},"required":["mode","verbose"]}""";
    private const string Answer = """{"type":"object","properties":{"answer":{"type":"string","maxLength":10},"score":{"type":"number"},"ok":{"type":"boolean"},"kind":{"anyOf":[{"type":"null"},{"type":"integer","exclusiveMinimum":-10,"maximum":99}]}},"required":["answer","ok"],"additionalProperties":false}""";

    private static readonly ChatTool[] Tools =
    [
        ChatTool.CreateFunctionTool("read_file", "Read a file", BinaryData.FromString(ReadFile)),
        ChatTool.CreateFunctionTool("set_mode", "Set the mode", BinaryData.FromString(SetMode)),
    ];

    [Fact]
    public async Task ToolChoiceRequired_Hundred_EveryAnswerIsOneCallValidAgainstItsTool()
    {
        var schemas = new Dictionary<string, JsonSchema> { ["read_file"] = await JsonSchema.FromJsonAsync(ReadFile), ["set_mode"] = await JsonSchema.FromJsonAsync(SetMode) };
        var completions = await ManyAsync(100, () => Options(ChatToolChoice.CreateRequiredChoice()));
        Assert.All(completions, c =>
        {
            Assert.Equal(ChatFinishReason.ToolCalls, c.FinishReason);
            var call = Assert.Single(c.ToolCalls);
            Assert.Empty(schemas[call.FunctionName].Validate(call.FunctionArguments.ToString()));
        });
    }

    [Fact]
    public async Task ToolChoiceNamed_AlwaysThatTool_ToolChoiceNone_NeverACall()
    {
        var named = await ManyAsync(20, () => Options(ChatToolChoice.CreateFunctionChoice("set_mode")));
        Assert.All(named, c => Assert.Equal("set_mode", Assert.Single(c.ToolCalls).FunctionName));
        var none = await ManyAsync(20, () => Options(ChatToolChoice.CreateNoneChoice()));
        Assert.All(none, c => Assert.Empty(c.ToolCalls));
    }

    [Fact]
    public async Task JsonSchema_Hundred_EveryAnswerValidates()
    {
        var schema = await JsonSchema.FromJsonAsync(Answer);
        var completions = await ManyAsync(100, () => new ChatCompletionOptions
        {
            Temperature = 1f, MaxOutputTokenCount = 256,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("answer", BinaryData.FromString(Answer), jsonSchemaIsStrict: true),
        }, tools: false);
        Assert.All(completions, c =>
        {
            Assert.Equal(ChatFinishReason.Stop, c.FinishReason);
            Assert.True(schema.Validate(c.Content[0].Text).Count == 0, c.Content[0].Text + " / " + string.Join(",", c.Content[0].Text.Select(ch => ((int)ch).ToString("X"))));
        });
    }

    [Fact]
    public async Task JsonSchema_Formats_DateDateTimeUuid_Validate()
    {
        const string formats = """{"type":"object","properties":{"day":{"type":"string","format":"date"},"at":{"type":"string","format":"date-time"},"id":{"type":"string","format":"uuid"}},"required":["day","at","id"]}""";
        var schema = await JsonSchema.FromJsonAsync(formats);
        var completions = await ManyAsync(20, () => new ChatCompletionOptions
        {
            Temperature = 1f, MaxOutputTokenCount = 256,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("formats", BinaryData.FromString(formats), jsonSchemaIsStrict: true),
        }, tools: false);
        Assert.All(completions, c => Assert.True(schema.Validate(c.Content[0].Text).Count == 0, c.Content[0].Text));
    }

    [Fact]
    public async Task StreamingAndNot_Temperature0_SameConstrainedCall()
    {
        var options = Options(ChatToolChoice.CreateFunctionChoice("read_file"));
        options.Temperature = 0f;
        var messages = new List<ChatMessage> { new UserChatMessage("open the config") };
        var once = (await gateway.Chat().CompleteChatAsync(messages, options)).Value.ToolCalls.Single();
        var name = "";
        var arguments = new System.Text.StringBuilder();
        await foreach (var update in gateway.Chat().CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                name += part.FunctionName ?? "";
                arguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }
        }

        Assert.Equal((once.FunctionName, once.FunctionArguments.ToString()), (name, arguments.ToString()));
    }

    [Theory]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"^a+$"}}}}""", "response_format.json_schema.schema.pattern")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"n":{"type":"number","minimum":3}}}}}}""", "response_format.json_schema.schema.properties.n.minimum")]
    [InlineData("""{"response_format":{"type":"json_object"},"grammar":"root ::= \"a\""}""", "response_format")]
    [InlineData("""{"response_format":{"type":"yaml"}}""", "response_format.type")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","format":"email"}}}}""", "response_format.json_schema.schema.format")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer","format":"int32"}}}}""", "response_format.json_schema.schema.format")]
    public async Task UnenforceableConstraint_400NamingTheParameter(string extra, string param)
    {
        var body = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(extra)!;
        body["model"] = JsonSerializer.SerializeToElement(gateway.ModelName);
        body["messages"] = JsonSerializer.SerializeToElement(new[] { new { role = "user", content = "hi" } });
        using var http = gateway.Http();
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(param, json.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task BadGrammarText_400_AndTheWorkerKeepsServing()
    {
        using var http = gateway.Http();
        using var bad = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = gateway.ModelName, grammar = "root ::= (\"a\" | ", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("invalid_grammar", await bad.Content.ReadAsStringAsync());

        using var good = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = gateway.ModelName, grammar = "root ::= \"yes\" | \"no\"", max_tokens = 8, messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        using var json = JsonDocument.Parse(await good.Content.ReadAsStringAsync());
        Assert.Contains(json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), new[] { "yes", "no" });
    }

    private static ChatCompletionOptions Options(ChatToolChoice choice)
    {
        var options = new ChatCompletionOptions { Temperature = 1f, MaxOutputTokenCount = 256, ToolChoice = choice };
        foreach (var tool in Tools) options.Tools.Add(tool);
        return options;
    }

    /// <summary><paramref name="count"/> requests, four at a time (the fixture's slots), each with fresh options.</summary>
    private async Task<List<ChatCompletion>> ManyAsync(int count, Func<ChatCompletionOptions> options, bool tools = true)
    {
        var results = new ChatCompletion[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
        {
            var prompt = tools ? $"task {i}: use a tool" : $"question {i}: answer in JSON";
            results[i] = (await gateway.Chat().CompleteChatAsync([new UserChatMessage(prompt)], options(), ct)).Value;
        });
        return [.. results];
    }
}
