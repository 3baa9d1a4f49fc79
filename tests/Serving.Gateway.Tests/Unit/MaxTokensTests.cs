using System.Text.Json;
using Serving.Gateway.Api;
using Serving.Gateway.Configuration;

namespace Serving.Gateway.Tests.Unit;

/// <summary>max_tokens left out means what OpenAI means: as many as the context leaves (0 to the worker), no hidden cap.</summary>
public sealed class MaxTokensTests
{
    private const string Body = """{"model":"m","messages":[{"role":"user","content":"hi"}]}""";

    [Theory]
    [InlineData(0, 1 << 20, 0)]     // defaults: up to the context
    [InlineData(0, 256, 256)]       // an operator's cap bounds the unspecified case too
    [InlineData(100, 256, 100)]     // an operator's default
    public void MaxTokens_LeftOut(int defaultMaxTokens, int cap, int expected)
    {
        var validator = new RequestValidator(new GatewayOptions { DefaultMaxTokens = defaultMaxTokens, MaxTokensCap = cap });
        var (call, error) = validator.Validate(JsonDocument.Parse(Body).RootElement, "chat", "r", new SessionInfo(null, false, null, "scope"));
        Assert.Null(error);
        Assert.Equal(expected, call!.MaxTokens);
    }
}
