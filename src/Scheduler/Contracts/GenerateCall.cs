using System.Text.Json;

namespace Serving.Scheduler.Contracts;

/// <summary>
/// The gateway → worker request: an OpenAI chat or completion request after the gateway has parsed and validated
/// it, with the session resolved (tenant-scoped key, final flag, tool-pause hint). The worker renders the prompt,
/// generates, and answers in OpenAI's response shape (JSON or SSE), which the gateway streams back unchanged.
/// </summary>
public sealed record GenerateCall
{
    public const string ChatKind = "chat";
    public const string CompletionKind = "completion";

    /// <summary>
    /// The wire format both sides use: snake_case, like the OpenAI API it came from; quotes escaped as <c>\"</c> and
    /// non-ASCII text left as is (as OpenAI writes it), not <c>\u0022</c> — these bodies are JSON for API clients,
    /// never embedded in HTML, which is what the default encoder guards against.
    /// </summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public required string Kind { get; init; }
    public required string RequestId { get; init; }
    public required string Model { get; init; }
    public IReadOnlyList<CallMessage> Messages { get; init; } = [];
    public string? Prompt { get; init; }

    /// <summary>The request's <c>tools</c> array as JSON, rendered into the system prompt; null when no tools (or tool_choice none).</summary>
    public string? ToolsJson { get; init; }

    /// <summary>
    /// GBNF grammar (rule <c>root</c>) the output must follow: built by the gateway from <c>response_format</c>, a
    /// required or named <c>tool_choice</c>, or taken from llama.cpp's <c>grammar</c> extension field; null = free text.
    /// </summary>
    public string? Grammar { get; init; }

    /// <summary>When set, <see cref="Grammar"/> is lazy: it applies from this text on (a tool call's opening tag).</summary>
    public string? GrammarTrigger { get; init; }

    /// <summary>
    /// Set when <see cref="Grammar"/> is the gateway's tool-call grammar (a required, named or lazy auto
    /// <c>tool_choice</c>): the tool-call format it writes (<c>hermes</c>, <c>llama3</c>). A worker whose model writes
    /// calls another way does not use it.
    /// </summary>
    public string? ToolCallFormat { get; init; }

    /// <summary>Tokens to generate at most; 0 = as many as the context leaves after the prompt.</summary>
    public int MaxTokens { get; init; }
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;

    /// <summary>llama.cpp/vLLM extension: keep the k most likely tokens (0 = all).</summary>
    public int TopK { get; init; }

    /// <summary>llama.cpp/vLLM extension: drop tokens below this fraction of the best token's probability (0 = off).</summary>
    public float MinP { get; init; }
    public ulong? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }

    /// <summary>Tenant-scoped session key; null for a request without a session (no reuse across requests).</summary>
    public string? SessionKey { get; init; }
    public bool IsFinal { get; init; }

    /// <summary>The tenant's scope: sessions of one tenant may share KV prefixes (a common system prompt), never across tenants.</summary>
    public string? PrefixScope { get; init; }
    public double? ExpectedToolMs { get; init; }
}

/// <summary>A chat message with content already flattened to text.</summary>
public sealed record CallMessage
{
    public required string Role { get; init; }
    public string Content { get; init; } = "";
    public IReadOnlyList<CallToolCall>? ToolCalls { get; init; }
    public string? ToolCallId { get; init; }

    /// <summary>An assistant message's reasoning (<c>reasoning_content</c>), for templates that render it back.</summary>
    public string? ReasoningContent { get; init; }
}

public sealed record CallToolCall(string Id, string Name, string Arguments);
