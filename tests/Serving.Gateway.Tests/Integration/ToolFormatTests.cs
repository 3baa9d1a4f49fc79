using NJsonSchema;
using OpenAI.Chat;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>A gateway whose workers serve a model that writes tool calls in <paramref name="format"/> (<c>--tool-parser</c>).</summary>
public sealed class ToolParserGateway(string format) : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", format];
}

/// <summary>
/// The workers report their model's tool-call format; the gateway builds tool grammars in it, and the worker reads the
/// calls back in it: <c>tool_choice: "required"</c> works for a model that is not Hermes-style.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ToolFormatTests
{
    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3-coder")]
    [InlineData("mistral")]
    [InlineData("mistral-v11")]
    [InlineData("deepseek")]
    [InlineData("deepseek-v3.1")]
    public async Task RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot(string format)
    {
        var gateway = new ToolParserGateway(format);
        await gateway.InitializeAsync();
        try
        {
            await RequiredCallsAsync(gateway);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    private const string ReadFile = """{"type":"object","properties":{"path":{"type":"string","maxLength":12},"line":{"type":"integer","minimum":1,"maximum":500},"mode":{"type":"string","enum":["text","hex"]}},"required":["path"],"additionalProperties":false}""";

    /// <summary>Ten forced calls, each valid against the tool's schema; streamed deltas add up to the same call at T=0.</summary>
    private static async Task RequiredCallsAsync(GatewayFixture gateway)
    {
        var schema = await JsonSchema.FromJsonAsync(ReadFile);
        var options = new ChatCompletionOptions { Temperature = 1f, MaxOutputTokenCount = 256, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        options.Tools.Add(ChatTool.CreateFunctionTool("read_file", "Read a file", BinaryData.FromString(ReadFile)));
        for (var i = 0; i < 10; i++)
        {
            ChatCompletion completion = await gateway.Chat().CompleteChatAsync([new UserChatMessage($"task {i}: read a file")], options);
            Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
            var call = Assert.Single(completion.ToolCalls);
            Assert.Equal("read_file", call.FunctionName);
            Assert.Empty(schema.Validate(call.FunctionArguments.ToString()));
        }

        options.Temperature = 0f;
        var streamed = new System.Text.StringBuilder();
        string? name = null;
        await foreach (var update in gateway.Chat().CompleteChatStreamingAsync([new UserChatMessage("read a file")], options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                name ??= part.FunctionName;
                streamed.Append(part.FunctionArgumentsUpdate?.ToString());
            }
        }

        ChatCompletion whole = await gateway.Chat().CompleteChatAsync([new UserChatMessage("read a file")], options);
        Assert.Equal(("read_file", whole.ToolCalls[0].FunctionArguments.ToString()), (name, streamed.ToString()));
    }
}
