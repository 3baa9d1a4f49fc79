using System.Net;
using System.Text;
using System.Text.Json;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>Malformed and hostile requests each get the right status and error code, and leave the server serving.</summary>
[Collection(GatewayCollection.Name)]
public sealed class HostileRequestTests(GatewayFixture gateway)
{
    private const string Chat = "/v1/chat/completions";
    private const string Completions = "/v1/completions";
    private const string Ok = """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2}""";

    public sealed record Case(string Name, string Path, string? Body, int Status, string Code, string? ApiKey = GatewayFixture.KeyA, Dictionary<string, string>? Headers = null, string Method = "POST");

    private static string With(string json) => json.Replace("'", "\"");

    private static readonly Case[] AllCases =
    [
        new Case("empty body", Chat, "", 400, "invalid_json"),
        new Case("not json", Chat, "hello", 400, "invalid_json"),
        new Case("truncated json", Chat, "{\"model\":\"tiny\",", 400, "invalid_json"),
        new Case("json array", Chat, "[1,2]", 400, "invalid_type"),
        new Case("json string", Chat, "\"x\"", 400, "invalid_type"),
        new Case("deeply nested", Chat, new string('[', 200) + new string(']', 200), 400, "invalid_json"),
        new Case("missing model", Chat, With("{'messages':[{'role':'user','content':'hi'}]}"), 400, "missing_required_parameter"),
        new Case("model number", Chat, With("{'model':5,'messages':[{'role':'user','content':'hi'}]}"), 400, "invalid_type"),
        new Case("empty model", Chat, With("{'model':'','messages':[{'role':'user','content':'hi'}]}"), 400, "invalid_value"),
        new Case("missing messages", Chat, With("{'model':'tiny'}"), 400, "missing_required_parameter"),
        new Case("messages object", Chat, With("{'model':'tiny','messages':{}}"), 400, "invalid_type"),
        new Case("empty messages", Chat, With("{'model':'tiny','messages':[]}"), 400, "empty_array"),
        new Case("message not object", Chat, With("{'model':'tiny','messages':['hi']}"), 400, "invalid_type"),
        new Case("unknown role", Chat, With("{'model':'tiny','messages':[{'role':'wizard','content':'hi'}]}"), 400, "invalid_value"),
        new Case("missing role", Chat, With("{'model':'tiny','messages':[{'content':'hi'}]}"), 400, "missing_required_parameter"),
        new Case("role number", Chat, With("{'model':'tiny','messages':[{'role':1,'content':'hi'}]}"), 400, "invalid_type"),
        new Case("missing content", Chat, With("{'model':'tiny','messages':[{'role':'user'}]}"), 400, "missing_required_parameter"),
        new Case("lone surrogate in content", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'a\\ud800b'}]}"), 400, "invalid_value"),
        new Case("lone surrogate in a name", Chat, With("{'model':'tiny','\\udc00':1,'messages':[{'role':'user','content':'hi'}]}"), 400, "invalid_value"),
        new Case("content number", Chat, With("{'model':'tiny','messages':[{'role':'user','content':42}]}"), 400, "invalid_type"),
        new Case("image part", Chat, With("{'model':'tiny','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'x'}}]}]}"), 400, "invalid_value"),
        new Case("tool without id", Chat, With("{'model':'tiny','messages':[{'role':'tool','content':'r'}]}"), 400, "missing_required_parameter"),
        new Case("tool_calls not array", Chat, With("{'model':'tiny','messages':[{'role':'assistant','content':null,'tool_calls':5}]}"), 400, "invalid_type"),
        new Case("tool_call no function", Chat, With("{'model':'tiny','messages':[{'role':'assistant','tool_calls':[{'id':'a'}]}]}"), 400, "invalid_type"),
        new Case("max_tokens zero", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'max_tokens':0}"), 400, "invalid_value"),
        new Case("max_tokens negative", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'max_tokens':-5}"), 400, "invalid_value"),
        new Case("max_tokens huge", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'max_tokens':99999999999}"), 400, "invalid_value"),
        new Case("max_tokens beyond int64", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'max_tokens':1e300}"), 400, "invalid_type"),
        new Case("max_tokens string", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'max_tokens':'10'}"), 400, "invalid_type"),
        new Case("max_completion_tokens float", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'max_completion_tokens':2.5}"), 400, "invalid_type"),
        new Case("temperature high", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'temperature':5}"), 400, "invalid_value"),
        new Case("temperature negative", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'temperature':-1}"), 400, "invalid_value"),
        new Case("temperature string", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'temperature':'hot'}"), 400, "invalid_type"),
        new Case("top_p zero", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'top_p':0}"), 400, "invalid_value"),
        new Case("top_p above one", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'top_p':1.5}"), 400, "invalid_value"),
        new Case("top_k negative", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'top_k':-1}"), 400, "invalid_value"),
        new Case("top_k fractional", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'top_k':1.5}"), 400, "invalid_type"),
        new Case("min_p above one", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'min_p':2}"), 400, "invalid_value"),
        new Case("seed string", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'seed':'x'}"), 400, "invalid_type"),
        new Case("n two", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'n':2}"), 400, "invalid_value"),
        new Case("logprobs", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'logprobs':true}"), 400, "invalid_value"),
        new Case("json schema", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_schema'}}"), 400, "invalid_value"),
        new Case("stop number", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'stop':7}"), 400, "invalid_type"),
        new Case("stop five", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'stop':['a','b','c','d','e']}"), 400, "invalid_value"),
        new Case("stop empty", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'stop':''}"), 400, "invalid_value"),
        new Case("stream string", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'stream':'yes'}"), 400, "invalid_type"),
        new Case("stream_options array", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'stream':true,'stream_options':[]}"), 400, "invalid_type"),
        new Case("tools object", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'tools':{}}"), 400, "invalid_type"),
        new Case("tool bad type", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'code'}]}"), 400, "invalid_type"),
        new Case("tool bad name", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'rm -rf /'}}]}"), 400, "invalid_value"),
        new Case("tool_choice unknown fn", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'ls'}}],'tool_choice':{'type':'function','function':{'name':'rm'}}}"), 400, "invalid_value"),
        new Case("tool_choice required without tools", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'tool_choice':'required'}"), 400, "invalid_value"),
        new Case("tool_choice number", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'hi'}],'tool_choice':3}"), 400, "invalid_value"),
        new Case("session id too long", Chat, Ok, 400, "invalid_value", Headers: new() { ["X-Session-Id"] = new string('s', 300) }),
        new Case("bad tool hint", Chat, Ok, 400, "invalid_value", Headers: new() { ["X-Tool-Expected-Ms"] = "soon" }),
        new Case("negative tool hint", Chat, Ok, 400, "invalid_value", Headers: new() { ["X-Tool-Expected-Ms"] = "-4" }),
        new Case("oversized body", Chat, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('a', 70_000) + "\"}]}", 413, "request_too_large"),
        new Case("missing auth", Chat, Ok, 401, "invalid_api_key", ApiKey: null),
        new Case("wrong key", Chat, Ok, 401, "invalid_api_key", ApiKey: "not-a-key"),
        new Case("models without auth", "/v1/models", null, 401, "invalid_api_key", ApiKey: null, Method: "GET"),
        new Case("completion missing prompt", Completions, With("{'model':'tiny'}"), 400, "missing_required_parameter"),
        new Case("completion prompt number", Completions, With("{'model':'tiny','prompt':5}"), 400, "invalid_type"),
        new Case("completion batched prompts", Completions, With("{'model':'tiny','prompt':['a','b']}"), 400, "invalid_type"),
        new Case("completion echo", Completions, With("{'model':'tiny','prompt':'a','echo':true}"), 400, "invalid_value"),
        new Case("context too long", Chat, With("{'model':'tiny','messages':[{'role':'user','content':'" + string.Concat(Enumerable.Repeat("word ", 3000)) + "'}],'max_tokens':200}"), 400, "context_length_exceeded"),
        new Case("unknown route", "/v1/embeddings", "{}", 404, "not_found"),
    ];

    public static TheoryData<Case> Cases() => new(AllCases);

    [Fact]
    public void Cases_AtLeastFifty() => Assert.True(AllCases.Length >= 50, $"only {AllCases.Length} cases");

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Request_MalformedOrHostile_GetsStatusAndErrorCode(Case c)
    {
        using var http = gateway.Http(c.ApiKey);
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path);
        if (c.Body is not null)
        {
            request.Content = new StringContent(c.Body, Encoding.UTF8, "application/json");
        }

        foreach (var (name, value) in c.Headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == c.Status, $"{c.Name}: expected {c.Status}, got {(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal(c.Code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
    }

    [Fact]
    public async Task AfterHostileRequests_ServerStillServesValidRequest()
    {
        using var http = gateway.Http();
        foreach (var c in AllCases.Take(20))
        {
            using var ignored = await http.PostAsync(c.Path, new StringContent(c.Body ?? "", Encoding.UTF8, "application/json"));
        }

        using var response = await http.PostAsync(Chat, new StringContent(Ok, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("chat.completion", json.RootElement.GetProperty("object").GetString());
    }
}
