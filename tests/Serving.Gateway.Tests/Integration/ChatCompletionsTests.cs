using OpenAI.Chat;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>The official OpenAI .NET client against the real gateway and worker processes.</summary>
[Collection(GatewayCollection.Name)]
public sealed class ChatCompletionsTests(GatewayFixture gateway)
{
    private static readonly ChatCompletionOptions Greedy = new() { Temperature = 0f, MaxOutputTokenCount = 8 };

    [Fact]
    public async Task CompleteChat_NonStreaming_ReturnsTextAndUsage()
    {
        var result = await gateway.Chat().CompleteChatAsync([new UserChatMessage("hello agent")], Greedy);
        var completion = result.Value;
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.Equal(8, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(0, completion.Usage.InputTokenDetails.CachedTokenCount);
    }

    [Fact]
    public async Task CompleteChatStreaming_WithUsage_StreamsTokensThenUsage()
    {
        var text = "";
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var update in gateway.Chat().CompleteChatStreamingAsync([new UserChatMessage("stream please")], Greedy))
        {
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.NotEmpty(text);
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(8, usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Session_FiveTurnsWithPauses_LaterTurnsCachedAndSameTextAsFreshRun()
    {
        var session = gateway.Chat(sessionId: "five-turns-" + Guid.NewGuid().ToString("N"));
        var messages = new List<ChatMessage> { new SystemChatMessage("you are an agent"), new UserChatMessage("list the files") };
        for (var turn = 1; turn <= 5; turn++)
        {
            var inSession = (await session.CompleteChatAsync(messages, Greedy)).Value;
            // The same conversation as a brand-new session of another tenant (no prefix to share): everything is recomputed.
            var fresh = (await gateway.Chat(GatewayFixture.KeyB, sessionId: "fresh-" + Guid.NewGuid().ToString("N"), final: true).CompleteChatAsync(messages, Greedy)).Value;
            Assert.Equal(fresh.Content[0].Text, inSession.Content[0].Text);
            Assert.Equal(0, fresh.Usage.InputTokenDetails.CachedTokenCount);
            if (turn > 1)
            {
                Assert.True(inSession.Usage.InputTokenDetails.CachedTokenCount > 0, $"turn {turn} reused nothing");
            }

            messages.Add(new AssistantChatMessage(inSession.Content[0].Text));
            messages.Add(new UserChatMessage($"tool result {turn}: file_{turn}.txt"));
        }
    }

    [Fact]
    public async Task Tenants_SameSessionId_NeverShareState()
    {
        var sessionId = "shared-" + Guid.NewGuid().ToString("N");
        var messages = new List<ChatMessage> { new UserChatMessage("tenant secret context") };
        var a = (await gateway.Chat(GatewayFixture.KeyA, sessionId).CompleteChatAsync(messages, Greedy)).Value;
        messages.Add(new AssistantChatMessage(a.Content[0].Text));
        messages.Add(new UserChatMessage("next"));

        var b = (await gateway.Chat(GatewayFixture.KeyB, sessionId).CompleteChatAsync(messages, Greedy)).Value;
        var a2 = (await gateway.Chat(GatewayFixture.KeyA, sessionId).CompleteChatAsync(messages, Greedy)).Value;

        Assert.Equal(0, b.Usage.InputTokenDetails.CachedTokenCount);
        Assert.True(a2.Usage.InputTokenDetails.CachedTokenCount > 0);
        Assert.Equal(a2.Content[0].Text, b.Content[0].Text);
    }

    [Fact]
    public async Task Session_WithToolsAndToolResults_AcceptedAndNextTurnReusesTheRenderedHistory()
    {
        var options = new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 6 };
        options.Tools.Add(ChatTool.CreateFunctionTool("list_files", "List files in a folder", BinaryData.FromString("""{"type":"object","properties":{"path":{"type":"string"}}}""")));
        var session = gateway.Chat(sessionId: "tools-" + Guid.NewGuid().ToString("N"));
        var messages = new List<ChatMessage>
        {
            new SystemChatMessage("you are a coding agent"),
            new UserChatMessage("what is in src?"),
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("call_1", "list_files", BinaryData.FromString("""{"path":"src"}"""))]),
            new ToolChatMessage("call_1", "main.cs util.cs"),
        };
        var first = (await session.CompleteChatAsync(messages, options)).Value;
        Assert.Contains(first.FinishReason, new[] { ChatFinishReason.Length, ChatFinishReason.Stop, ChatFinishReason.ToolCalls });
        messages.Add(new AssistantChatMessage(first.Content.Count > 0 ? first.Content[0].Text : ""));
        messages.Add(new UserChatMessage("now open main.cs"));
        var second = (await session.CompleteChatAsync(messages, options)).Value;
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount >= first.Usage.InputTokenCount, "the tool-call history did not render as a prefix of the next turn");
    }

    [Fact]
    public async Task NewSession_SameTenantSharesTheSystemPrompt_OtherTenantDoesNot()
    {
        var system = new SystemChatMessage("You are a coding agent. " + string.Concat(Enumerable.Repeat("Follow the repository conventions and run the tests. ", 12)));
        var tag = Guid.NewGuid().ToString("N");
        await gateway.Chat(GatewayFixture.KeyA, $"share-a1-{tag}").CompleteChatAsync([system, new UserChatMessage("first task")], Greedy);

        var sameTenant = (await gateway.Chat(GatewayFixture.KeyA, $"share-a2-{tag}").CompleteChatAsync([system, new UserChatMessage("second task")], Greedy)).Value;
        var otherTenant = (await gateway.Chat(GatewayFixture.KeyB, $"share-b1-{tag}").CompleteChatAsync([system, new UserChatMessage("second task")], Greedy)).Value;

        Assert.True(sameTenant.Usage.InputTokenDetails.CachedTokenCount >= 64, $"cached {sameTenant.Usage.InputTokenDetails.CachedTokenCount}");
        Assert.Equal(0, sameTenant.Usage.InputTokenDetails.CachedTokenCount % 16); // whole KV blocks only
        Assert.Equal(0, otherTenant.Usage.InputTokenDetails.CachedTokenCount);
        Assert.Equal(otherTenant.Content[0].Text, sameTenant.Content[0].Text);
    }

}
