using System.Text;
using System.Text.Json;
using Serving.Scheduler.Contracts;
using Serving.Workers.Engine;
using Serving.Workers.Protocol.ToolCalls;
using Serving.Workers.Templates;
using Serving.Workers.Runtime;

namespace Serving.Workers.Api;

/// <summary>
/// <c>POST /internal/generate</c>: runs one <see cref="GenerateCall"/> and answers in OpenAI's shape, as a JSON body
/// or as server-sent events ending in <c>data: [DONE]</c>. Errors before the first token get a status code; errors
/// after it arrive as an SSE error event, so a client never hangs.
/// </summary>
internal sealed class GenerateEndpoint(IInferenceEngine engine, IGenerationService generation)
{
    public async Task HandleAsync(HttpContext http)
    {
        GenerateCall? call;
        try
        {
            call = await JsonSerializer.DeserializeAsync<GenerateCall>(http.Request.Body, GenerateCall.JsonOptions, http.RequestAborted);
        }
        catch (JsonException e)
        {
            await OpenAiErrors.Result(400, "invalid_json", "Malformed request: " + e.Message).ExecuteAsync(http);
            return;
        }

        if (call is null || (call.Kind != GenerateCall.ChatKind && call.Kind != GenerateCall.CompletionKind) || call.MaxTokens < 0)
        {
            await OpenAiErrors.Result(400, "invalid_request", "A generate call needs kind chat|completion and max_tokens >= 0 (0 = up to the context).").ExecuteAsync(http);
            return;
        }

        var chat = engine.Chat;
        var grammarText = call.Grammar;
        if (call.ToolCallFormat is { } format && format != chat.ToolCalls.Name)
        {
            // The gateway's tool grammar writes calls in another format than this model's (it had not yet learnt ours).
            if (call.GrammarTrigger is null)
            {
                await OpenAiErrors.Result(400, "unsupported_tool_choice", ToolCallFormats.NotEnforced(chat.ToolCalls.Name)).ExecuteAsync(http);
                return;
            }

            grammarText = null; // auto: the model is free to call or not, as without a grammar
        }

        // Parsed once, here on the request thread: a malformed grammar is a 400 before anything runs, and the engine
        // thread gets the turn's grammar ready to use.
        ITokenConstraint? constraint = null;
        if (grammarText is { } grammar && (constraint = engine.CreateGrammar(grammar, call.GrammarTrigger, out var error)) is null)
        {
            await OpenAiErrors.Result(400, "invalid_grammar", $"The grammar was refused (GBNF with a 'root' rule, as llama.cpp reads it): {error}").ExecuteAsync(http);
            return;
        }

        string prompt;
        try
        {
            prompt = PromptRenderer.Render(engine, call);
        }
        catch (JinjaException e)
        {
            // The template refused the conversation (raise_exception: "roles must alternate", ...), or failed on it.
            await OpenAiErrors.Result(400, "invalid_messages", $"The model's chat template rejected the messages: {e.Message}").ExecuteAsync(http);
            return;
        }

        var toolCalls = Reader(call, chat, prompt);
        var promptTokens = engine.Tokenize(prompt, addBos: true);
        var maxTokens = call.MaxTokens > 0 ? call.MaxTokens : Math.Max(1, engine.Info.ContextPerSlot - promptTokens.Length);
        var request = new GenerationRequest(call.RequestId, call.SessionKey, promptTokens, maxTokens,
            new SamplingOptions(call.Temperature, call.TopP, call.Seed, call.TopK, call.MinP), call.Stop, call.IsFinal, toolCalls, call.ExpectedToolMs, call.PrefixScope);
        var response = new ResponseBuilder(call, Created(), toolCalls);
        await using var events = generation.GenerateAsync(request, constraint, http.RequestAborted).GetAsyncEnumerator(http.RequestAborted);
        try
        {
            // The first MoveNext surfaces a rejection (context too long, queue full) before any byte is written.
            var hasFirst = await events.MoveNextAsync();
            if (call.Stream)
            {
                await StreamAsync(http, response, events, hasFirst);
            }
            else
            {
                await RespondOnceAsync(http, response, events, hasFirst);
            }
        }
        catch (GenerationRejectedException e)
        {
            await OpenAiErrors.Result(e.StatusCode, e.Code, e.Message).ExecuteAsync(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the cancellation already freed the turn.
        }
    }

    private static async Task RespondOnceAsync(HttpContext http, ResponseBuilder response, IAsyncEnumerator<GenerationEvent> events, bool hasNext)
    {
        var text = new StringBuilder();
        CompletedEvent? done = null;
        while (hasNext)
        {
            switch (events.Current)
            {
                case TokenEvent token:
                    text.Append(token.Text);
                    break;
                case CompletedEvent completed:
                    done = completed;
                    break;
            }

            hasNext = await events.MoveNextAsync();
        }

        if (done is null or { Reason: FinishReason.Error or FinishReason.Cancelled })
        {
            var error = FailureOf(done);
            await OpenAiErrors.Result(error.Status, error.Code, error.Message).ExecuteAsync(http);
            return;
        }

        await Results.Json(response.Final(text.ToString(), done), GenerateCall.JsonOptions).ExecuteAsync(http);
    }

    private static async Task StreamAsync(HttpContext http, ResponseBuilder response, IAsyncEnumerator<GenerationEvent> events, bool hasNext)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await WriteAsync(http, response.FirstChunk());
        var stream = response.ToolCalls is { } reader ? new ToolCallStream(reader) : null;
        while (hasNext)
        {
            switch (events.Current)
            {
                case TokenEvent { Text.Length: > 0 } token when stream is not null:
                    foreach (var chunk in stream.Append(token.Text, response))
                    {
                        await WriteAsync(http, chunk);
                    }

                    break;
                case TokenEvent { Text.Length: > 0 } token:
                    await WriteAsync(http, response.ContentChunk(token.Text));
                    break;
                case CompletedEvent { Reason: FinishReason.Error or FinishReason.Cancelled } failed:
                    var error = FailureOf(failed);
                    await http.Response.WriteAsync(OpenAiErrors.SseEvent(error.Status, error.Code, error.Message));
                    return;
                case CompletedEvent completed:
                    foreach (var chunk in stream?.Finish(response) ?? [])
                    {
                        await WriteAsync(http, chunk);
                    }

                    foreach (var chunk in response.FinishChunks(completed, stream?.CalledTools ?? false))
                    {
                        await WriteAsync(http, chunk);
                    }

                    await http.Response.WriteAsync("data: [DONE]\n\n");
                    return;
            }

            hasNext = await events.MoveNextAsync();
        }
    }

    /// <summary>
    /// How the answer is read: for tool calls when tools were offered, for reasoning when the model thinks, for both
    /// when the format wraps every answer (gpt-oss); null when the text is the answer as it is.
    /// </summary>
    private static ToolCallReader? Reader(GenerateCall call, ChatFormat chat, string prompt)
    {
        if (call.Kind != GenerateCall.ChatKind)
        {
            return null;
        }

        var thinks = chat.Template?.Thinks ?? false;
        var tools = call.ToolsJson is { } json ? OfferedTools.FromJson(json) : null;
        return tools is null && !thinks && !chat.ToolCalls.ReadsEveryAnswer
            ? null
            : new ToolCallReader(chat.ToolCalls, tools ?? OfferedTools.None, thinks,
                thinks && prompt.TrimEnd().EndsWith(ThinkingSplit.Open, StringComparison.Ordinal));
    }

    private static TurnError FailureOf(CompletedEvent? done) =>
        done?.Error ?? new TurnError(503, "generation_failed", "The worker stopped before the response was complete. Retry the request.");

    private static async Task WriteAsync(HttpContext http, object chunk)
    {
        await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(chunk, GenerateCall.JsonOptions) + "\n\n");
        await http.Response.Body.FlushAsync();
    }

    private static long Created() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
