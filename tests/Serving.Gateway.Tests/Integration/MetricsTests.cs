using OpenAI.Chat;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

[Collection(GatewayCollection.Name)]
public sealed class MetricsTests(GatewayFixture gateway)
{
    [Fact]
    public async Task Metrics_ParseAsPrometheusText_AndAgentMetricsMoveWhenASessionParksAndRestores()
    {
        var before = PrometheusText.Parse(await Scrape());
        // The agent announces a long tool call (60 s), so it is the one expected back last.
        var session = gateway.Chat(sessionId: "metrics-" + Guid.NewGuid().ToString("N"), toolExpectedMs: 60_000);
        var messages = new List<ChatMessage> { new UserChatMessage("park me") };
        var options = new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 4 };
        var first = (await session.CompleteChatAsync(messages, options)).Value;
        // Four other sessions need the worker's four slots during the pause: the adaptive policy parks ours.
        for (var i = 0; i < 4; i++)
        {
            await gateway.Chat(sessionId: $"other-{i}-{Guid.NewGuid():N}").CompleteChatAsync([new UserChatMessage($"other agent {i}")], options);
        }

        messages.Add(new AssistantChatMessage(first.Content[0].Text));
        messages.Add(new UserChatMessage("tool result"));
        var second = (await session.CompleteChatAsync(messages, options)).Value;
        var after = PrometheusText.Parse(await Scrape());

        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount > 0);
        Assert.True(after.Sum("serving_session_park_total", "result", "ok") > before.Sum("serving_session_park_total", "result", "ok"));
        Assert.True(after.Sum("serving_session_restore_total", "result", "restored") > before.Sum("serving_session_restore_total", "result", "restored"));
        Assert.True(after.Sum("serving_prompt_tokens_cached_total") > before.Sum("serving_prompt_tokens_cached_total"));
        Assert.True(after.Sum("serving_park_seconds_count") > before.Sum("serving_park_seconds_count"));
        Assert.Contains("serving_admission_window", after.Types.Keys);
        Assert.True(after.Sum("serving_decode_batch_sequences_count") > before.Sum("serving_decode_batch_sequences_count"));
        // What the scheduler learned of this engine's step times: a positive scale per part, whatever the machine.
        Assert.True(after.Sum("serving_engine_cost_scale", "part", "decode") > 0);
        Assert.True(after.Sum("serving_engine_cost_scale", "part", "prefill") > 0);
        Assert.Equal("histogram", after.Types["serving_time_to_first_token_seconds"]);
    }

    [Fact]
    public async Task RequestCounter_RouteLabel_IsTheMatchedRouteNeverTheRawPath()
    {
        using var http = gateway.Http();
        foreach (var path in new[] { "/v1/chat/completions/", "/V1/Chat/Completions", "/v1/chat/completions?x=" + Guid.NewGuid().ToString("N") })
        {
            using var response = await http.PostAsync(path, new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode); // routed, then refused by validation
        }

        var routes = PrometheusText.Parse(await Scrape()).Samples.Where(s => s.Name == "serving_gateway_requests_total").Select(s => s.Labels["route"]).ToHashSet();
        Assert.Subset(new HashSet<string>(["/v1/chat/completions", "/v1/completions"]), routes);
    }

    private async Task<string> Scrape()
    {
        using var http = gateway.Http(apiKey: null);
        return await http.GetStringAsync("/metrics");
    }
}
