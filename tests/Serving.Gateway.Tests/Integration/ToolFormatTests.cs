using NJsonSchema;
using OpenAI.Chat;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>A gateway whose workers serve a model that writes Llama 3 tool calls (<c>--tool-parser llama3</c>).</summary>
public sealed class Llama3ToolFormatFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", "llama3"];
}

/// <summary>A gateway whose workers serve a model that writes Qwen3-Coder's XML tool calls.</summary>
public sealed class QwenCoderToolFormatFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", "qwen3-coder"];
}

/// <summary>A gateway whose workers serve a model that writes Mistral Nemo's list of calls.</summary>
public sealed class MistralToolFormatFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", "mistral"];
}

/// <summary>A gateway whose workers serve a model that writes Mistral Small 3.2's named calls.</summary>
public sealed class MistralV11ToolFormatFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", "mistral-v11"];
}

/// <summary>A gateway whose workers serve a model that writes DeepSeek R1's calls (arguments in a json fence).</summary>
public sealed class DeepSeekToolFormatFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", "deepseek"];
}

/// <summary>A gateway whose workers serve a model that writes DeepSeek V3.1's calls.</summary>
public sealed class DeepSeekV31ToolFormatFixture : GatewayFixture
{
    protected override string[] ExtraArgs => ["--tool-parser", "deepseek-v3.1"];
}

/// <summary>
/// The workers report their model's tool-call format; the gateway builds tool grammars in it, and the worker reads the
/// calls back in it: <c>tool_choice: "required"</c> works for a model that is not Hermes-style.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ToolFormatTests(Llama3ToolFormatFixture gateway) : IClassFixture<Llama3ToolFormatFixture>
{
    [Fact]
    public Task Llama3Model_RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot() => RequiredCallsAsync(gateway);

    private const string ReadFile = """{"type":"object","properties":{"path":{"type":"string","maxLength":12},"line":{"type":"integer","minimum":1,"maximum":500},"mode":{"type":"string","enum":["text","hex"]}},"required":["path"],"additionalProperties":false}""";

    /// <summary>Ten forced calls, each valid against the tool's schema; streamed deltas add up to the same call at T=0.</summary>
    internal static async Task RequiredCallsAsync(GatewayFixture gateway)
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

[Collection(GatewayCollection.Name)]
public sealed class QwenCoderToolFormatTests(QwenCoderToolFormatFixture gateway) : IClassFixture<QwenCoderToolFormatFixture>
{
    [Fact]
    public Task QwenCoderModel_RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot() => ToolFormatTests.RequiredCallsAsync(gateway);
}

[Collection(GatewayCollection.Name)]
public sealed class MistralToolFormatTests(MistralToolFormatFixture gateway) : IClassFixture<MistralToolFormatFixture>
{
    [Fact]
    public Task MistralModel_RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot() => ToolFormatTests.RequiredCallsAsync(gateway);
}

[Collection(GatewayCollection.Name)]
public sealed class MistralV11ToolFormatTests(MistralV11ToolFormatFixture gateway) : IClassFixture<MistralV11ToolFormatFixture>
{
    [Fact]
    public Task MistralV11Model_RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot() => ToolFormatTests.RequiredCallsAsync(gateway);
}

[Collection(GatewayCollection.Name)]
public sealed class DeepSeekToolFormatTests(DeepSeekToolFormatFixture gateway) : IClassFixture<DeepSeekToolFormatFixture>
{
    [Fact]
    public Task DeepSeekModel_RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot() => ToolFormatTests.RequiredCallsAsync(gateway);
}

[Collection(GatewayCollection.Name)]
public sealed class DeepSeekV31ToolFormatTests(DeepSeekV31ToolFormatFixture gateway) : IClassFixture<DeepSeekV31ToolFormatFixture>
{
    [Fact]
    public Task DeepSeekV31Model_RequiredToolChoice_EveryAnswerIsOneValidCall_StreamedOrNot() => ToolFormatTests.RequiredCallsAsync(gateway);
}
