using Serving.Workers.Engine;

namespace Serving.Workers.Runtime;

/// <summary>
/// What the worker's HTTP layer asks of the step loop. Thread-safe: called from request threads; the
/// implementation hands requests to the single engine thread through a bounded channel.
/// </summary>
public interface IGenerationService
{
    /// <summary>
    /// Enqueues one turn and streams its tokens. Throws <see cref="GenerationRejectedException"/> before the first
    /// event when the request cannot be served (context too long, queue full). Cancelling <paramref name="ct"/>
    /// aborts the turn and frees its engine resources. <paramref name="constraint"/> (the turn's grammar, built by the
    /// caller, which answers a malformed one with 400) belongs to the service from here: it disposes it with the turn.
    /// </summary>
    IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, ITokenConstraint? constraint, CancellationToken ct);

    /// <summary>Ends a session at once (X-Session-Final or expiry): frees resident, parked and spilled state.</summary>
    void EndSession(string sessionKey);

    /// <summary>A consistent snapshot for the stats endpoint and admission control.</summary>
    WorkerStats GetStats();
}

/// <summary>One turn of a session, already tokenized with the chat template.</summary>
/// <param name="SessionKey">Tenant-scoped session key from the gateway; null for a one-shot request.</param>
/// <param name="ToolCalls">How the output is read when it is not plain text (tools offered, a thinking model, a format
/// that wraps every answer): a tool pause starts when the turn ends in a call.</param>
/// <param name="ExpectedToolMs">The client's guess of the coming tool pause (X-Tool-Expected-Ms), if any.</param>
public sealed record GenerationRequest(
    string RequestId,
    string? SessionKey,
    int[] PromptTokens,
    int MaxTokens,
    SamplingOptions Sampling,
    IReadOnlyList<string> Stop,
    bool IsFinal,
    ToolCallReader? ToolCalls,
    double? ExpectedToolMs,
    string? PrefixScope = null);

/// <param name="TopK">Keep only the k most likely tokens; 0 = no limit (llama.cpp's and vLLM's extension).</param>
/// <param name="MinP">Drop tokens less likely than this fraction of the most likely one; 0 = off (extension).</param>
public sealed record SamplingOptions(float Temperature, float TopP, ulong? Seed, int TopK = 0, float MinP = 0f)
{
    public static SamplingOptions Greedy { get; } = new(0f, 1f, null);
}

public abstract record GenerationEvent;

/// <summary>One sampled token. <see cref="Text"/> is the newly completed UTF-8 text (may be empty mid-character).</summary>
public sealed record TokenEvent(int Token, string Text) : GenerationEvent;

/// <summary>The last event of a turn. <see cref="Error"/> says why when <see cref="Reason"/> is Error.</summary>
public sealed record CompletedEvent(FinishReason Reason, int PromptTokens, int CachedTokens, int CompletionTokens, TurnError? Error = null)
    : GenerationEvent;

/// <summary>Why a turn failed, in OpenAI's terms (status, string code, message).</summary>
public sealed record TurnError(int Status, string Code, string Message)
{
    public static TurnError Unavailable(string message) => new(503, "server_unavailable", message);

    public static TurnError ServerError(string message) => new(500, "server_error", message);
}

public enum FinishReason { Stop, Length, ToolCalls, Cancelled, Error }

public sealed class GenerationRejectedException(string code, string message, int statusCode) : Exception(message)
{
    /// <summary>OpenAI-style string code, e.g. "context_length_exceeded" or "server_busy".</summary>
    public string Code { get; } = code;
    public int StatusCode { get; } = statusCode;
}

public sealed record WorkerStats(
    int RunningRequests,
    int WaitingRequests,
    int ResidentSessions,
    int ParkedSessions,
    double KvCacheUsage,
    int SlotCount,
    int FreeSlots,
    string ToolFormat = Scheduler.Contracts.ToolCallFormats.Hermes);

/// <summary>
/// Reads a turn's text: a thinking model's reasoning first (when <see cref="Thinking"/>), then tool calls in the
/// model's format among the tools the request offered.
/// </summary>
/// <param name="Thinking">The model thinks in <c>&lt;think&gt;</c> blocks; <see cref="ThinkingOpen"/>: the prompt opened one.</param>
public sealed record ToolCallReader(Protocol.ToolCalls.IToolCallParser Parser, Protocol.ToolCalls.OfferedTools Tools, bool Thinking = false, bool ThinkingOpen = false)
{
    public Protocol.ToolCalls.ToolCallSnapshot Read(string text, bool final)
    {
        if (!Thinking)
        {
            return Parser.Parse(text, Tools, final);
        }

        var (reasoning, answer) = Protocol.ToolCalls.ThinkingSplit.Split(text, ThinkingOpen, final);
        return Parser.Parse(answer, Tools, final) with { Reasoning = reasoning };
    }
}
