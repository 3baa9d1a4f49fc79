using System.Text.Json;
using Serving.Gateway.Configuration;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Api;

/// <summary>
/// Validates OpenAI chat and completion requests and turns them into a <see cref="GenerateCall"/>. Every rule
/// answers with a 400 naming the parameter; nothing the server cannot honour is silently ignored (n > 1,
/// logprobs, a schema keyword it cannot enforce) — it is refused with a message that says so.
/// </summary>
public sealed partial class RequestValidator(GatewayOptions options)
{
    /// <param name="toolFormat">How the served model writes tool calls (its workers report it), for tool grammars.</param>
    public (GenerateCall? Call, ApiError? Error) Validate(JsonElement body, string kind, string requestId, SessionInfo session, string toolFormat = ToolCallFormats.Hermes)
    {
        try
        {
            return (Parse(body, kind, requestId, session, toolFormat), null);
        }
        catch (ValidationException e)
        {
            return (null, e.Error);
        }
    }

    private sealed class ValidationException(ApiError error) : Exception(error.Message)
    {
        public ApiError Error { get; } = error;
    }

    private static ValidationException Fail(string param, string message, string code = "invalid_value") => new(ApiError.Invalid(message, param, code));

    private GenerateCall Parse(JsonElement body, string kind, string requestId, SessionInfo session, string toolFormat)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw Fail("", "The request body must be a JSON object.", "invalid_type");
        }

        var model = RequiredString(body, "model");
        var chat = kind == GenerateCall.ChatKind;
        var messages = chat ? Messages(body) : [];
        var prompt = chat ? null : Prompt(body);
        Unsupported(body, chat);
        var toolChoice = chat ? ToolChoice(body) : null;
        var tools = chat ? Tools(body, toolChoice) : null;
        (string Grammar, string? Trigger, bool WritesToolCalls)? grammar;
        try
        {
            grammar = Constraints.OutputConstraint.Build(body, chat, toolChoice, tools is null ? null : body.GetProperty("tools"), toolFormat);
        }
        catch (Constraints.ConstraintException e)
        {
            throw Fail(e.Param, e.Message);
        }

        return new GenerateCall
        {
            Grammar = grammar?.Grammar,
            GrammarTrigger = grammar?.Trigger,
            ToolCallFormat = grammar is { WritesToolCalls: true } ? toolFormat : null,
            Kind = kind,
            RequestId = requestId,
            Model = model,
            Messages = messages,
            Prompt = prompt,
            ToolsJson = tools,
            MaxTokens = MaxTokens(body),
            Temperature = (float)Number(body, "temperature", 0, 2, 1),
            TopP = (float)Number(body, "top_p", 0, 1, 1, exclusiveMin: true),
            TopK = (int)Integer(body, "top_k", 0, 1 << 20, 0),
            MinP = (float)Number(body, "min_p", 0, 1, 0),
            Seed = Seed(body),
            Stop = Stop(body),
            Stream = Bool(body, "stream"),
            IncludeUsage = IncludeUsage(body),
            SessionKey = session.Key,
            IsFinal = session.IsFinal,
            PrefixScope = session.Scope,
            ExpectedToolMs = session.ExpectedToolMs,
        };
    }






    private static string Prompt(JsonElement body)
    {
        if (!body.TryGetProperty("prompt", out var prompt))
        {
            throw Fail("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter");
        }

        if (prompt.ValueKind == JsonValueKind.String)
        {
            return prompt.GetString()!;
        }

        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String)
        {
            return prompt[0].GetString()!;
        }

        throw Fail("prompt", "'prompt' must be a string (or an array with exactly one string; batched prompts are not supported).", "invalid_type");
    }

    private static void Unsupported(JsonElement body, bool chat)
    {
        if (body.TryGetProperty("n", out var n) && !(n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var count) && count == 1))
        {
            throw Fail("n", "Only n = 1 is supported: this server returns one choice per request.");
        }

        if (body.TryGetProperty("logprobs", out var logprobs) && logprobs.ValueKind is not (JsonValueKind.False or JsonValueKind.Null))
        {
            throw Fail("logprobs", "logprobs are not supported by this server.");
        }

        if (!chat)
        {
            foreach (var name in new[] { "suffix", "echo", "best_of" })
            {
                if (body.TryGetProperty(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.False) && !(name == "best_of" && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var b) && b == 1))
                {
                    throw Fail(name, $"'{name}' is not supported by this server.");
                }
            }
        }
    }



    private int MaxTokens(JsonElement body)
    {
        var name = body.TryGetProperty("max_completion_tokens", out var v) && v.ValueKind != JsonValueKind.Null ? "max_completion_tokens"
            : body.TryGetProperty("max_tokens", out v) && v.ValueKind != JsonValueKind.Null ? "max_tokens" : null;
        if (name is null)
        {
            // No hidden cap: 0 tells the worker "as many as the context leaves" — unless the operator set a default or
            // a cap, which then bounds the unspecified case too.
            return options.DefaultMaxTokens > 0 ? options.DefaultMaxTokens : options.MaxTokensCap < new GatewayOptions().MaxTokensCap ? options.MaxTokensCap : 0;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n))
        {
            throw Fail(name, $"'{name}' must be an integer.", "invalid_type");
        }

        return n >= 1 && n <= options.MaxTokensCap ? (int)n : throw Fail(name, $"'{name}' must be between 1 and {options.MaxTokensCap} (was {n}).");
    }

    private static double Number(JsonElement body, string name, double min, double max, double fallback, bool exclusiveMin = false)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d))
        {
            throw Fail(name, $"'{name}' must be a number.", "invalid_type");
        }

        var ok = (exclusiveMin ? d > min : d >= min) && d <= max;
        return ok ? d : throw Fail(name, $"'{name}' must be {(exclusiveMin ? "greater than" : "at least")} {min} and at most {max} (was {d}).");
    }

    private static long Integer(JsonElement body, string name, long min, long max, long fallback)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n))
        {
            throw Fail(name, $"'{name}' must be an integer.", "invalid_type");
        }

        return n >= min && n <= max ? n : throw Fail(name, $"'{name}' must be at least {min} and at most {max} (was {n}).");
    }

    private static ulong? Seed(JsonElement body)
    {
        if (!body.TryGetProperty("seed", out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var signed))
        {
            return unchecked((ulong)signed);
        }

        throw Fail("seed", "'seed' must be a 64-bit integer.", "invalid_type");
    }

    private static List<string> Stop(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        var stops = v.ValueKind switch
        {
            JsonValueKind.String => [v.GetString()!],
            JsonValueKind.Array when v.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String) => v.EnumerateArray().Select(s => s.GetString()!).ToList(),
            _ => throw Fail("stop", "'stop' must be a string or an array of strings.", "invalid_type"),
        };
        if (stops.Count > 4 || stops.Any(s => s.Length is 0 or > 256))
        {
            throw Fail("stop", "'stop' accepts at most 4 non-empty strings of at most 256 characters.");
        }

        return stops;
    }

    private static bool Bool(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(name, $"'{name}' must be a boolean.", "invalid_type"),
        };
    }

    private static bool IncludeUsage(JsonElement body)
    {
        if (!body.TryGetProperty("stream_options", out var options) || options.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        if (options.ValueKind != JsonValueKind.Object)
        {
            throw Fail("stream_options", "'stream_options' must be an object.", "invalid_type");
        }

        return Bool(options, "include_usage");
    }

    private static string RequiredString(JsonElement obj, string name, string? at = null)
    {
        var param = at is null ? name : $"{at}.{name}";
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw Fail(param, $"Missing required parameter: '{param}'.", "missing_required_parameter");
        }

        if (v.ValueKind != JsonValueKind.String)
        {
            throw Fail(param, $"'{param}' must be a string.", "invalid_type");
        }

        var s = v.GetString()!;
        return s.Length > 0 || name is "arguments" ? s : throw Fail(param, $"'{param}' must not be empty.");
    }
}
