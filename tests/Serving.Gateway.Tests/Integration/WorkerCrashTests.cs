using System.ClientModel;
using OpenAI.Chat;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>A gateway of its own (this test kills its worker), with room for a stream long enough to be cut.</summary>
public sealed class CrashGatewayFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--ctx-per-slot", "4096", "--Gateway:MaxTokensCap", "4000"];
}

[Collection(GatewayCollection.Name)]
public sealed class WorkerCrashTests(CrashGatewayFixture gateway) : IClassFixture<CrashGatewayFixture>
{
    [Fact]
    public async Task WorkerKilledDuringStream_ClientGetsCleanErrorAndSessionRecoversOnRestartedWorker()
    {
        var session = gateway.Chat(sessionId: "crash-" + Guid.NewGuid().ToString("N"));
        var messages = new List<ChatMessage> { new UserChatMessage("write a long answer") };
        var options = new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 4000 };
        var received = 0;
        var failure = await Record.ExceptionAsync(async () =>
        {
            await foreach (var update in session.CompleteChatStreamingAsync(messages, options))
            {
                if (update.ContentUpdate.Count > 0 && ++received == 1)
                {
                    gateway.KillWorker();
                }
            }
        });

        // The stream ends in an error (an SSE error event or a closed connection), never a hang or a silent success.
        Assert.True(received >= 1);
        Assert.NotNull(failure);
        Assert.True(failure is ClientResultException or IOException or HttpRequestException, failure.GetType().Name + ": " + failure.Message);

        await gateway.WaitForReplacementsAsync();
        var next = (await session.CompleteChatAsync(messages, new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 4 })).Value;
        Assert.Equal(4, next.Usage.OutputTokenCount);
        Assert.Equal(0, next.Usage.InputTokenDetails.CachedTokenCount); // the new worker recomputed the prefix
    }

    [Fact]
    public async Task WorkerKilledWhile16SessionsStream_EachCompletesOrFailsCleanly_AndEveryContinuationEqualsAFreshRun()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var greedy = new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 6 };
        var histories = new List<ChatMessage>[16];
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            histories[i] = [new UserChatMessage($"session {i} asks about topic {i * 7}")];
            var first = (await gateway.Chat(sessionId: $"kill-{run}-{i}").CompleteChatAsync(histories[i], greedy)).Value;
            histories[i].Add(new AssistantChatMessage(first.Content[0].Text));
            histories[i].Add(new UserChatMessage($"tool result {i}: ok"));
        }));

        // Every session's next turn streams; the worker is killed (SIGKILL) as soon as any of them produces text.
        var killed = 0;
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            var text = new System.Text.StringBuilder();
            var failure = await Record.ExceptionAsync(async () =>
            {
                var options = new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 48 };
                await foreach (var update in gateway.Chat(sessionId: $"kill-{run}-{i}").CompleteChatStreamingAsync(histories[i], options))
                {
                    foreach (var part in update.ContentUpdate)
                    {
                        text.Append(part.Text);
                    }

                    if (text.Length > 0 && Interlocked.Exchange(ref killed, 1) == 0)
                    {
                        gateway.KillWorker();
                    }
                }
            });
            return (Text: text.ToString(), Failure: failure);
        }));

        Assert.Equal(1, killed);
        foreach (var (_, failure) in outcomes.Where(o => o.Failure is not null))
        {
            Assert.True(failure is ClientResultException or IOException or HttpRequestException, failure!.GetType().Name + ": " + failure.Message);
        }

        await gateway.WaitForReplacementsAsync();
        for (var i = 0; i < 16; i++)
        {
            // The same conversation as a brand-new session, alone: what the model says from nothing but these messages.
            var fresh = (await gateway.Chat(sessionId: $"fresh-{run}-{i}").CompleteChatAsync(histories[i], new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 48 })).Value;
            if (outcomes[i].Failure is null)
            {
                Assert.Equal(fresh.Content[0].Text, outcomes[i].Text);
            }

            // The session goes on after the crash: its continuation must not use anyone else's KV.
            var again = (await gateway.Chat(sessionId: $"kill-{run}-{i}").CompleteChatAsync(histories[i], new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 48 })).Value;
            Assert.Equal(fresh.Content[0].Text, again.Content[0].Text);
        }
    }
}
