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
                    gateway.Supervisor.Processes.Values.Single().Kill();
                }
            }
        });

        // The stream ends in an error (an SSE error event or a closed connection), never a hang or a silent success.
        Assert.True(received >= 1);
        Assert.NotNull(failure);
        Assert.True(failure is ClientResultException or IOException or HttpRequestException, failure.GetType().Name + ": " + failure.Message);

        await gateway.WaitUntilReadyAsync();
        var next = (await session.CompleteChatAsync(messages, new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 4 })).Value;
        Assert.Equal(4, next.Usage.OutputTokenCount);
        Assert.Equal(0, next.Usage.InputTokenDetails.CachedTokenCount); // the new worker recomputed the prefix
    }
}
