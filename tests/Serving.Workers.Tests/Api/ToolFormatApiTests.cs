using System.Net;
using System.Text.Json;
using Serving.Scheduler.Contracts;
using Serving.Workers.Engine;
using Serving.Workers.Tests.Support;
using Serving.Workers.Protocol.ToolCalls;
using Serving.Workers.Templates;

namespace Serving.Workers.Tests.Api;

/// <summary>A model whose template teaches Llama 3's tool-call format, through the worker's HTTP endpoint.</summary>
public sealed class ToolFormatApiTests : IAsyncLifetime
{
    private const string LlamaCall = "{\"name\": \"list_files\", \"parameters\": {\"path\": \"src\"}}";
    private readonly SimulatedEngine _engine = new(slots: 2, contextPerSlot: 4096)
    {
        Script = LlamaCall, Chat = new ChatFormat(null, ToolCallParsers.ByName("llama3")!),
    };

    private SimulatedWorker _worker = null!;

    public async Task InitializeAsync() => _worker = await SimulatedWorker.StartAsync(_engine);

    private static GenerateCall Call(bool stream) => new()
    {
        Kind = GenerateCall.ChatKind, RequestId = Guid.NewGuid().ToString("N"), Model = "sim", MaxTokens = 200, Temperature = 0, Stream = stream,
        Messages = [new CallMessage { Role = "user", Content = "what is in src?" }],
        ToolsJson = """[{"type":"function","function":{"name":"list_files","parameters":{"type":"object"}}}]""",
    };

    private async Task<JsonDocument> PostAsync(GenerateCall call, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await _worker.PostAsync(call);
        Assert.Equal(expected, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task LlamaFormatCall_ComesBackAsToolCalls()
    {
        using var json = await PostAsync(Call(stream: false));
        var choice = json.RootElement.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var function = choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal(("list_files", "{\"path\": \"src\"}"), (function.GetProperty("name").GetString(), function.GetProperty("arguments").GetString()));
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("content").ValueKind);
        Assert.False(choice.GetProperty("message").TryGetProperty("reasoning_content", out _)); // not a thinking model
    }

    [Fact]
    public async Task ThinkingModel_ReasoningApart_FromTheCall_StreamedOrNot()
    {
        // A template that opens the thinking block in its generation prompt, as DeepSeek R1's does.
        var template = ChatTemplate.TryCreate("{% for m in messages %}{{ m.content }}{% endfor %}<think>\n", "", "", false, out _)!;
        await using var worker = await SimulatedWorker.StartAsync(new SimulatedEngine(slots: 1, contextPerSlot: 4096)
        {
            Script = "the user wants files\n</think>\n\n<tool_call>\n{\"name\": \"list_files\", \"arguments\": {}}\n</tool_call>",
            Chat = new ChatFormat(template, ToolCallParsers.ByName("hermes")!),
        });
        using var whole = JsonDocument.Parse(await (await worker.PostAsync(Call(stream: false))).Content.ReadAsStringAsync());
        var message = whole.RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("the user wants files\n", message.GetProperty("reasoning_content").GetString());
        Assert.Equal("list_files", message.GetProperty("tool_calls")[0].GetProperty("function").GetProperty("name").GetString());

        var deltas = (await StreamedChoicesAsync(worker)).Select(c => c.GetProperty("delta")).ToList();
        Assert.Equal("the user wants files\n", string.Concat(deltas.Select(d => d.TryGetProperty("reasoning_content", out var r) ? r.GetString() : "")));
        Assert.Equal("", string.Concat(deltas.Select(d => d.TryGetProperty("content", out var c) ? c.GetString() : "")));
    }

    [Fact]
    public async Task RequiredToolChoice_GrammarInAnotherFormat_IsRefusedWithAClearError()
    {
        using var json = await PostAsync(Call(stream: false) with { Grammar = "root ::= \"<tool_call>\"", ToolCallFormat = "hermes" }, HttpStatusCode.BadRequest);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("unsupported_tool_choice", error.GetProperty("code").GetString());
        Assert.Contains("llama3", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task AutoToolChoice_LazyGrammarInAnotherFormat_IsDropped_CallStillParsed()
    {
        using var json = await PostAsync(Call(stream: false) with
        {
            Grammar = "root ::= \"<tool_call>\" [a-z]+", GrammarTrigger = "<tool_call>", ToolCallFormat = "hermes",
        });
        Assert.Equal("tool_calls", json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    public static TheoryData<string, string> ModelOutputs => new()
    {
        { "hermes", "Checking.\n<tool_call>\n{\"name\": \"list_files\", \"arguments\": {\"path\": \"src\"}}\n</tool_call>" },
        { "qwen3-coder", "<tool_call>\n<function=list_files>\n<parameter=path>\nsrc\n</parameter>\n</function>\n</tool_call>" },
        { "llama3", LlamaCall },
        { "mistral", "[TOOL_CALLS][{\"name\": \"list_files\", \"arguments\": {\"path\": \"src\"}}]" },
        { "mistral-v11", "[TOOL_CALLS]list_files[ARGS]{\"path\": \"src\"}" },
        { "deepseek", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>list_files\n```json\n{\"path\": \"src\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>" },
        { "deepseek-v3.1", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>list_files<｜tool▁sep｜>{\"path\": \"src\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>" },
        { "gpt-oss", "<|channel|>analysis<|message|>Need the files.<|end|><|start|>assistant<|channel|>commentary to=functions.list_files <|constrain|>json<|message|>{\"path\": \"src\"}" },
    };

    [Theory]
    [MemberData(nameof(ModelOutputs))]
    public async Task EveryFormat_StreamedDeltasAddUpToTheAnswer(string format, string output)
    {
        await using var worker = await SimulatedWorker.StartAsync(new SimulatedEngine(slots: 1, contextPerSlot: 4096)
        {
            Script = output, Chat = new ChatFormat(null, ToolCallParsers.ByName(format)!),
        });
        using var whole = JsonDocument.Parse(await (await worker.PostAsync(Call(stream: false))).Content.ReadAsStringAsync());
        var message = whole.RootElement.GetProperty("choices")[0].GetProperty("message");
        var call = message.GetProperty("tool_calls").EnumerateArray().Single().GetProperty("function");
        Assert.Equal("list_files", call.GetProperty("name").GetString());
        Assert.Equal("src", JsonDocument.Parse(call.GetProperty("arguments").GetString()!).RootElement.GetProperty("path").GetString());

        var events = await StreamedChoicesAsync(worker);
        var deltas = events.Select(c => c.GetProperty("delta")).ToList();
        var content = string.Concat(deltas.Select(d => d.TryGetProperty("content", out var t) ? t.GetString() : ""));
        var pieces = deltas.Where(d => d.TryGetProperty("tool_calls", out _)).Select(d => d.GetProperty("tool_calls")[0].GetProperty("function")).ToList();
        Assert.Equal(message.GetProperty("content").GetString() ?? "", content);
        Assert.Equal("list_files", pieces[0].GetProperty("name").GetString());
        Assert.Equal(call.GetProperty("arguments").GetString(), string.Concat(pieces.Select(p => p.GetProperty("arguments").GetString())));
        Assert.Equal("tool_calls", events.Last(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String).GetProperty("finish_reason").GetString());
    }

    /// <summary>Every choice of every chunk of a streamed call, in order.</summary>
    private static async Task<List<JsonElement>> StreamedChoicesAsync(SimulatedWorker worker) =>
        (await (await worker.PostAsync(Call(stream: true))).Content.ReadAsStringAsync())
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).Where(e => e != "[DONE]")
            .Select(e => JsonDocument.Parse(e).RootElement).SelectMany(c => c.GetProperty("choices").EnumerateArray()).ToList();

    public async Task DisposeAsync() => await _worker.DisposeAsync();
}
