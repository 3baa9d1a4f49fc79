using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serving.Scheduler.Contracts;
using Serving.Workers.Engine;
using Serving.Workers.Hosting;
using Serving.Workers.Tests.Support;

namespace Serving.Workers.Tests.Api;

/// <summary>The worker's HTTP endpoint on real Kestrel, with the simulated engine scripted to call a tool.</summary>
public sealed class WorkerApiTests : IAsyncLifetime
{
    private const string ToolCall = "Checking.\n<tool_call>\n{\"name\": \"list_files\", \"arguments\": {\"path\": \"src\"}}\n</tool_call>";
    private readonly SimulatedEngine _engine = new(slots: 2, contextPerSlot: 4096) { Script = ToolCall };
    private SimulatedWorker _worker = null!;

    public async Task InitializeAsync() => _worker = await SimulatedWorker.StartAsync(_engine);

    private static GenerateCall Call(bool stream, string? tools = """[{"type":"function","function":{"name":"list_files","parameters":{"type":"object"}}}]""") => new()
    {
        Kind = GenerateCall.ChatKind,
        RequestId = Guid.NewGuid().ToString("N"),
        Model = "sim",
        Messages = [new CallMessage { Role = "user", Content = "what is in src?" }],
        ToolsJson = tools,
        MaxTokens = 200,
        Temperature = 0,
        Stream = stream,
        IncludeUsage = true,
        SessionKey = "t:tools",
    };

    private Task<HttpResponseMessage> PostAsync(GenerateCall call) => _worker.PostAsync(call);

    [Fact]
    public async Task Generate_MaxTokensZero_GeneratesUpToTheContext_NoHiddenCap()
    {
        await using var worker = await SimulatedWorker.StartAsync(new SimulatedEngine(slots: 1, contextPerSlot: 96));
        using var response = await worker.PostAsync(Call(stream: false, tools: null) with { MaxTokens = 0, SessionKey = null });
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var usage = json.RootElement.GetProperty("usage");
        Assert.Equal("length", json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(96, usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Generate_ModelWritesToolCall_ReturnsToolCallsWithFinishReasonToolCalls()
    {
        using var response = await PostAsync(Call(stream: false));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = json.RootElement.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var message = choice.GetProperty("message");
        Assert.Equal("Checking.", message.GetProperty("content").GetString());
        var call = message.GetProperty("tool_calls")[0];
        Assert.Equal(("function", "list_files"), (call.GetProperty("type").GetString(), call.GetProperty("function").GetProperty("name").GetString()));
        Assert.Equal("src", JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!).RootElement.GetProperty("path").GetString());
    }

    [Fact]
    public async Task Generate_Streaming_SendsToolCallDeltaFinishReasonUsageAndDone()
    {
        using var response = await PostAsync(Call(stream: true));
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        var contentBeforeCall = string.Concat(chunks
            .TakeWhile(c => !c.GetProperty("choices").EnumerateArray().Any(ch => ch.GetProperty("delta").TryGetProperty("tool_calls", out _)))
            .SelectMany(c => c.GetProperty("choices").EnumerateArray())
            .Select(ch => ch.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal("Checking.", contentBeforeCall); // plain text streams (white space before a call dropped, as in the JSON answer); the call never leaks as content
        // The call arrives as OpenAI's incremental deltas: name first, then the arguments in pieces that add up.
        var deltas = chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray())
            .Where(ch => ch.GetProperty("delta").TryGetProperty("tool_calls", out _))
            .Select(ch => ch.GetProperty("delta").GetProperty("tool_calls")[0].GetProperty("function")).ToList();
        Assert.Equal("list_files", deltas[0].GetProperty("name").GetString());
        Assert.Equal("{\"path\": \"src\"}", string.Concat(deltas.Select(f => f.GetProperty("arguments").GetString())));
        Assert.Contains(chunks, c => c.GetProperty("choices").EnumerateArray().Any(ch => ch.GetProperty("finish_reason").GetString() == "tool_calls"));
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.True(usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 10);
    }

    [Fact]
    public async Task Generate_WithoutTools_SameTextIsPlainContent()
    {
        using var response = await PostAsync(Call(stream: false, tools: null));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = json.RootElement.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(ToolCall, choice.GetProperty("message").GetProperty("content").GetString());
    }

    [Theory]
    [InlineData("POST", "/internal/generate", null)]
    [InlineData("POST", "/internal/generate", "Bearer wrong")]
    [InlineData("POST", "/internal/sessions/end", "Bearer ")]
    [InlineData("GET", "/stats", null)]
    [InlineData("GET", "/metrics", "Basic abc")]
    [InlineData("GET", "/health", "Bearer 0")]
    public async Task AnyEndpoint_WithoutTheWorkerSecret_Returns401(string method, string path, string? authorization)
    {
        using var stranger = new HttpClient { BaseAddress = new Uri(_worker.Url) };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST") request.Content = JsonContent.Create(Call(stream: false), options: GenerateCall.JsonOptions);
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        using var response = await stranger.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_worker_secret", json.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("Bearer", false)]
    [InlineData("bearer SECRET", false)]
    [InlineData("Bearer SECRE", false)]
    [InlineData("Bearer SECRETX", false)]
    [InlineData("Bearer SECRET", true)]
    public void Matches_ComparesWholeSecretsOfAnyLengthAsDigests(string header, bool expected)
    {
        Assert.Equal(expected, WorkerSecret.Matches(header, SecretDigest.Of("SECRET")));
    }

    [Fact]
    public async Task Generate_MalformedCall_Returns400InOpenAiShape()
    {
        using var response = await _worker.Http.PostAsync("/internal/generate", new StringContent("{oops", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_json", json.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    public async Task DisposeAsync()
    {
        await _worker.DisposeAsync();
    }
}
