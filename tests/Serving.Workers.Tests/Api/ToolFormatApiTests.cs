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
    }

    [Fact]
    public async Task RequiredToolChoice_HermesGrammar_IsRefusedWithAClearError()
    {
        using var json = await PostAsync(Call(stream: false) with { Grammar = "root ::= \"<tool_call>\"", GrammarShapesToolCalls = true }, HttpStatusCode.BadRequest);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("unsupported_tool_choice", error.GetProperty("code").GetString());
        Assert.Contains("llama3", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task AutoToolChoice_LazyHermesGrammar_IsDropped_CallStillParsed()
    {
        using var json = await PostAsync(Call(stream: false) with
        {
            Grammar = "root ::= \"<tool_call>\" [a-z]+", GrammarTrigger = "<tool_call>", GrammarShapesToolCalls = true,
        });
        Assert.Equal("tool_calls", json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    public async Task DisposeAsync() => await _worker.DisposeAsync();
}
