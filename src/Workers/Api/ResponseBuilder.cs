using System.Security.Cryptography;
using System.Text;
using Serving.Scheduler.Contracts;
using Serving.Workers.Protocol.ToolCalls;
using Serving.Workers.Runtime;

namespace Serving.Workers.Api;

/// <summary>
/// Builds OpenAI response bodies and stream chunks for chat and text completions. With a tool-call reader, the
/// answer's text is split into content and <c>tool_calls</c> in the model's format; a stream sends each call's name as
/// soon as it is written and its arguments as they grow (OpenAI's incremental <c>tool_calls</c> deltas).
/// </summary>
internal sealed class ResponseBuilder(GenerateCall call, long created, ToolCallReader? toolCalls)
{
    private readonly bool _chat = call.Kind == GenerateCall.ChatKind;
    private readonly string _id = (call.Kind == GenerateCall.ChatKind ? "chatcmpl-" : "cmpl-") + call.RequestId;

    public ToolCallReader? ToolCalls => toolCalls;

    public object Final(string text, CompletedEvent done)
    {
        var (content, calls, reasoning) = Split(text);
        var reason = Reason(done, calls.Count > 0);
        var answer = calls.Count > 0 && content.Length == 0 ? null : content;
        var toolCallsJson = calls.Count > 0 ? calls.Select((c, i) => ToolCallJson(c, i)).ToList() : null;
        object message = reasoning.Length > 0
            ? new { role = "assistant", content = answer, reasoning_content = reasoning, tool_calls = toolCallsJson }
            : new { role = "assistant", content = answer, tool_calls = toolCallsJson };
        object choice = _chat
            ? new { index = 0, message, finish_reason = reason, logprobs = (object?)null }
            : new { index = 0, text = content, finish_reason = reason, logprobs = (object?)null };
        return new { id = _id, @object = _chat ? "chat.completion" : "text_completion", created, model = call.Model, choices = new[] { choice }, usage = Usage(done) };
    }

    public object FirstChunk() => _chat
        ? Chunk(new { index = 0, delta = new { role = "assistant", content = "" }, finish_reason = (string?)null, logprobs = (object?)null })
        : Chunk(new { index = 0, text = "", finish_reason = (string?)null, logprobs = (object?)null });

    public object ContentChunk(string text) => _chat
        ? Chunk(new { index = 0, delta = new { content = text }, finish_reason = (string?)null, logprobs = (object?)null })
        : Chunk(new { index = 0, text, finish_reason = (string?)null, logprobs = (object?)null });

    /// <summary>More of the model's reasoning (<c>reasoning_content</c>, as llama-server and vLLM send it).</summary>
    public object ReasoningChunk(string text) =>
        Chunk(new { index = 0, delta = new { reasoning_content = text }, finish_reason = (string?)null, logprobs = (object?)null });

    /// <summary>A call's first delta: its index, id, type and name, arguments still empty.</summary>
    public object ToolCallStartChunk(int index, string name) =>
        ToolCallDelta(new { index, id = CallId(index), type = "function", function = new { name, arguments = "" } });

    /// <summary>More of a call's arguments.</summary>
    public object ToolCallArgumentsChunk(int index, string arguments) => ToolCallDelta(new { index, function = new { arguments } });

    /// <summary>The finish chunk, then the usage chunk when asked for.</summary>
    public IEnumerable<object> FinishChunks(CompletedEvent done, bool calledTools)
    {
        var reason = Reason(done, calledTools);
        yield return _chat
            ? Chunk(new { index = 0, delta = new { }, finish_reason = reason, logprobs = (object?)null })
            : Chunk(new { index = 0, text = "", finish_reason = reason, logprobs = (object?)null });
        if (call.IncludeUsage)
        {
            yield return new { id = _id, @object = ChunkObject, created, model = call.Model, choices = Array.Empty<object>(), usage = Usage(done) };
        }
    }

    private object ToolCallDelta(object toolCall) =>
        Chunk(new { index = 0, delta = new { tool_calls = new[] { toolCall } }, finish_reason = (string?)null, logprobs = (object?)null });

    private string ChunkObject => _chat ? "chat.completion.chunk" : "text_completion";

    private object Chunk(object choice) => new { id = _id, @object = ChunkObject, created, model = call.Model, choices = new[] { choice } };

    private (string Content, IReadOnlyList<PartialToolCall> Calls, string Reasoning) Split(string text)
    {
        if (toolCalls is null || !_chat)
        {
            return (text, [], "");
        }

        var snapshot = toolCalls.Read(text, final: true);
        return (snapshot.Content, snapshot.Calls, snapshot.Reasoning);
    }

    private static string Reason(CompletedEvent done, bool calledTools) =>
        calledTools ? "tool_calls" : done.Reason == FinishReason.Length ? "length" : "stop";

    private object ToolCallJson(PartialToolCall c, int index) =>
        new { id = CallId(index), type = "function", function = new { name = c.Name, arguments = c.Arguments } };

    /// <summary>
    /// OpenAI's "call_…" ids; Mistral's templates accept only 9 letters and digits (they come back in the next turn's
    /// messages), so its ids are those, derived from the request and the call's position.
    /// </summary>
    private string CallId(int index)
    {
        if (toolCalls?.Parser is not MistralToolCalls)
        {
            return $"call_{call.RequestId}_{index}";
        }

        const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{call.RequestId}/{index}"));
        return string.Concat(hash.Take(9).Select(b => Alphabet[b % Alphabet.Length]));
    }

    private static object Usage(CompletedEvent done) => new
    {
        prompt_tokens = done.PromptTokens,
        completion_tokens = done.CompletionTokens,
        total_tokens = done.PromptTokens + done.CompletionTokens,
        prompt_tokens_details = new { cached_tokens = done.CachedTokens },
    };
}
