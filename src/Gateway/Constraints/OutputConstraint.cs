using System.Text.Json;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Constraints;

/// <summary>
/// The grammar a request's output must follow, from (at most one of) <c>response_format</c> json_object /
/// json_schema, llama.cpp's <c>grammar</c> field (GBNF text), or a <c>tool_choice</c> of "required" or a named
/// function — which must then produce exactly one call in the served model's tool-call format (<see cref="ToolCallShape"/>;
/// Hermes: <c>&lt;tool_call&gt;{"name": …, "arguments": …}&lt;/tool_call&gt;</c>) with arguments valid against that
/// tool's <c>parameters</c>. Null: free text.
/// With "auto" (and tools offered, nothing else constraining) the tool-call grammar is lazy: text is free until the
/// model opens a call, and from <c>&lt;tool_call&gt;</c> on the call must be well formed and its arguments valid
/// (several calls unless <c>parallel_tool_calls</c> is false) — as llama.cpp's server does. Tools whose schemas
/// cannot be enforced leave "auto" unconstrained (nothing was asked for).
/// </summary>
public static class OutputConstraint
{
    public const int MaxGrammarChars = 64 * 1024;

    /// <summary>
    /// The request's output grammar, if any: its text, the trigger word when it is lazy, and whether it writes tool
    /// calls (in <paramref name="toolFormat"/>, which the worker must then share).
    /// </summary>
    /// <exception cref="ConstraintException">A malformed or unsupported format, schema or combination (400).</exception>
    public static (string Grammar, string? Trigger, bool WritesToolCalls)? Build(JsonElement body, bool chat, string? toolChoice, JsonElement? tools, string toolFormat = ToolCallFormats.Hermes)
    {
        var shape = ToolCallShape.For(toolFormat);
        var sources = new List<(string Param, string Grammar)>();
        if (body.TryGetProperty("grammar", out var grammar) && grammar.ValueKind != JsonValueKind.Null)
        {
            if (grammar.ValueKind != JsonValueKind.String || grammar.GetString() is not { Length: > 0 and <= MaxGrammarChars } text)
            {
                throw new ConstraintException("grammar", $"'grammar' must be GBNF text of 1..{MaxGrammarChars} characters with a 'root' rule.");
            }

            sources.Add(("grammar", text));
        }

        if (chat && ResponseFormat(body) is { } format)
        {
            sources.Add(("response_format", format));
        }

        if (chat && toolChoice is not (null or "none" or "auto") && tools is { } offered)
        {
            sources.Add(("tool_choice", ToolCall(offered, toolChoice, repeat: false, shape ?? throw new ConstraintException("tool_choice", ToolCallFormats.NotEnforced(toolFormat)))));
        }

        switch (sources.Count)
        {
            case 1:
                return (sources[0].Grammar, null, sources[0].Param == "tool_choice");
            case > 1:
                throw new ConstraintException(sources[1].Param, $"Only one of {string.Join(", ", sources.Select(s => s.Param))} can constrain the output of one request.");
        }

        if (!chat || toolChoice is not (null or "auto") || tools is not { } auto || shape?.LazyTrigger is not { } trigger)
        {
            return null;
        }

        try
        {
            var parallel = !(body.TryGetProperty("parallel_tool_calls", out var p) && p.ValueKind == JsonValueKind.False);
            return (ToolCall(auto, "required", repeat: parallel, shape), trigger, true);
        }
        catch (ConstraintException)
        {
            return null;
        }
    }

    private static string? ResponseFormat(JsonElement body)
    {
        if (!body.TryGetProperty("response_format", out var format) || format.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var type = format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return JsonSchemaGrammar.AnyObject();
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var spec) || spec.ValueKind != JsonValueKind.Object
                    || !spec.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                {
                    throw new ConstraintException("response_format.json_schema", "'response_format.json_schema' must be an object with a 'name' and a 'schema'.");
                }

                var schema = spec.TryGetProperty("schema", out var s) ? s : AnyValueSchema;
                return Convert(schema, "response_format.json_schema.schema");
            default:
                throw new ConstraintException("response_format.type", "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\".");
        }
    }

    /// <summary>One call (or, with <paramref name="repeat"/>, one or more): of the named function, or of any offered one ("required").</summary>
    private static string ToolCall(JsonElement tools, string choice, bool repeat, ToolCallShape shape)
    {
        var alternatives = new List<(string Name, JsonElement Parameters, string Path)>();
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = $"tools[{i++}].function.parameters";
            var function = tool.GetProperty("function");
            var name = function.GetProperty("name").GetString()!;
            if (choice != "required" && name != choice)
            {
                continue;
            }

            var parameters = function.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object ? p : AnyObjectSchema;
            alternatives.Add((name, parameters, path));
        }

        try
        {
            return shape.Format == ToolCallFormats.QwenCoder
                ? JsonSchemaGrammar.XmlCalls(alternatives, repeat ? shape.Separator : null)
                : JsonSchemaGrammar.Wrap(shape.Before, alternatives.Select(a => (shape.Head(a.Name), (JsonElement?)a.Parameters, a.Path)).ToList(), shape.Closing,
                    repeat ? shape.Separator : null, shape.After);
        }
        catch (UnsupportedSchemaException e)
        {
            throw new ConstraintException(e.Path, e.Message);
        }
    }

    private static readonly JsonElement AnyObjectSchema = JsonDocument.Parse("""{"type":"object"}""").RootElement;
    private static readonly JsonElement AnyValueSchema = JsonDocument.Parse("{}").RootElement;

    private static string Convert(JsonElement schema, string path)
    {
        try
        {
            return JsonSchemaGrammar.ToGbnf(schema, path);
        }
        catch (UnsupportedSchemaException e)
        {
            throw new ConstraintException(e.Path, e.Message);
        }
    }
}

/// <summary>The output constraint cannot be built: 400 <c>invalid_value</c> naming <see cref="Param"/>.</summary>
public sealed class ConstraintException(string param, string message) : Exception(message)
{
    public string Param { get; } = param;
}
