using Serving.Scheduler.Contracts;
using Serving.Workers.Protocol;
using Serving.Workers.Runtime;

namespace Serving.Workers.Api;

/// <summary>Builds OpenAI response bodies and stream chunks for chat and text completions.</summary>
internal sealed class ResponseBuilder(GenerateCall call, long created)
{
    private readonly bool _chat = call.Kind == GenerateCall.ChatKind;
    private readonly string _id = (call.Kind == GenerateCall.ChatKind ? "chatcmpl-" : "cmpl-") + call.RequestId;

    public bool ToolsOffered => call.ToolsJson is not null;

    public object Final(string text, CompletedEvent done)
    {
        var (content, calls, reason) = Split(text, done);
        object choice = _chat
            ? new { index = 0, message = new { role = "assistant", content = calls.Count > 0 && content.Length == 0 ? null : content, tool_calls = calls.Count > 0 ? ToolCalls(calls) : null }, finish_reason = reason, logprobs = (object?)null }
            : new { index = 0, text = content, finish_reason = reason, logprobs = (object?)null };
        return new { id = _id, @object = _chat ? "chat.completion" : "text_completion", created, model = call.Model, choices = new[] { choice }, usage = Usage(done) };
    }

    public object FirstChunk() => _chat
        ? Chunk(new { index = 0, delta = new { role = "assistant", content = "" }, finish_reason = (string?)null, logprobs = (object?)null })
        : Chunk(new { index = 0, text = "", finish_reason = (string?)null, logprobs = (object?)null });

    public object ContentChunk(string text) => _chat
        ? Chunk(new { index = 0, delta = new { content = text }, finish_reason = (string?)null, logprobs = (object?)null })
        : Chunk(new { index = 0, text, finish_reason = (string?)null, logprobs = (object?)null });

    /// <summary>Held text (tool requests), the finish chunk, then the usage chunk when asked for.</summary>
    public IEnumerable<object> FinalChunks(string heldText, CompletedEvent done)
    {
        var (content, calls, reason) = Split(heldText, done);
        if (content.Length > 0)
        {
            yield return ContentChunk(content);
        }

        if (calls.Count > 0)
        {
            yield return Chunk(new { index = 0, delta = new { tool_calls = ToolCalls(calls).Select((c, i) => new { index = i, c.Id, c.Type, c.Function }) }, finish_reason = (string?)null, logprobs = (object?)null });
        }

        yield return _chat
            ? Chunk(new { index = 0, delta = new { }, finish_reason = reason, logprobs = (object?)null })
            : Chunk(new { index = 0, text = "", finish_reason = reason, logprobs = (object?)null });
        if (call.IncludeUsage)
        {
            yield return new { id = _id, @object = ChunkObject, created, model = call.Model, choices = Array.Empty<object>(), usage = Usage(done) };
        }
    }

    private string ChunkObject => _chat ? "chat.completion.chunk" : "text_completion";

    private object Chunk(object choice) => new { id = _id, @object = ChunkObject, created, model = call.Model, choices = new[] { choice } };

    private (string Content, IReadOnlyList<ToolCallFormat.ParsedToolCall> Calls, string Reason) Split(string text, CompletedEvent done)
    {
        if (done.Reason == FinishReason.ToolCalls && _chat)
        {
            var (content, calls) = ToolCallFormat.Parse(text);
            return (content, calls, "tool_calls");
        }

        return (text, [], done.Reason == FinishReason.Length ? "length" : "stop");
    }

    private List<ToolCallJson> ToolCalls(IReadOnlyList<ToolCallFormat.ParsedToolCall> calls) =>
        calls.Select((c, i) => new ToolCallJson($"call_{call.RequestId}_{i}", "function", new FunctionJson(c.Name, c.ArgumentsJson))).ToList();

    private sealed record ToolCallJson(string Id, string Type, FunctionJson Function);

    private sealed record FunctionJson(string Name, string Arguments);

    private static object Usage(CompletedEvent done) => new
    {
        prompt_tokens = done.PromptTokens,
        completion_tokens = done.CompletionTokens,
        total_tokens = done.PromptTokens + done.CompletionTokens,
        prompt_tokens_details = new { cached_tokens = done.CachedTokens },
    };
}
