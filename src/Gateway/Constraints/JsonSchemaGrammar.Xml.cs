using System.Text.Json;

namespace Serving.Gateway.Constraints;

/// <summary>
/// Qwen3-Coder's tool calls: <c>&lt;tool_call&gt;\n&lt;function=NAME&gt;\n</c>, then one
/// <c>&lt;parameter=KEY&gt;\nVALUE\n&lt;/parameter&gt;\n</c> per argument, <c>&lt;/function&gt;\n&lt;/tool_call&gt;</c>.
/// A string argument is written raw (no quotes; it cannot contain <c>&lt;</c>), any other as JSON, as Qwen's parser
/// reads them. Required parameters always appear, optional ones may, in the schema's order.
/// </summary>
public sealed partial class JsonSchemaGrammar
{
    public static string XmlCalls(IReadOnlyList<(string Name, JsonElement Parameters, string Path)> tools, string? separator)
    {
        var grammar = new JsonSchemaGrammar(default, "");
        var bodies = tools.Select(t =>
            $"{Literal($"<tool_call>\n<function={t.Name}>\n")} {XmlParameters(grammar, t.Parameters, t.Path)} {Literal("</function>\n</tool_call>")}");
        grammar._rules["item"] = $"({string.Join(" | ", bodies)})";
        grammar._rules["xml-text"] = "[^<]*";
        // Bounded raw strings stay in the BMP, as bounded JSON strings do (the same length counted either way).
        grammar._rules["xml-bchar"] = "[^<\\U00010000-\\U0010FFFF]";
        return grammar.Render(separator is null ? "root ::= item" : $"root ::= item ({Literal(separator)} item)*");
    }

    private static string XmlParameters(JsonSchemaGrammar target, JsonElement parameters, string path)
    {
        var source = new JsonSchemaGrammar(parameters, path);
        var parts = new List<string>();
        if (parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
        {
            var required = parameters.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
                ? r.EnumerateArray().Select(x => x.GetString() ?? "").ToHashSet(StringComparer.Ordinal)
                : [];
            foreach (var property in properties.EnumerateObject())
            {
                var at = $"{path}.properties.{property.Name}";
                var value = IsStringSchema(property.Value) ? RawString(property.Value, at) : source.Visit(property.Value, at);
                var item = $"{Literal($"<parameter={property.Name}>\n")} {value} {Literal("\n</parameter>\n")}";
                parts.Add(required.Contains(property.Name) ? item : $"({item})?");
            }
        }

        foreach (var (name, body) in source._rules)
        {
            target._rules[name] = body;
        }

        return parts.Count == 0 ? "\"\"" : string.Join(" ", parts);
    }

    private static bool IsStringSchema(JsonElement schema) =>
        schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("type", out var type)
        && type.ValueKind == JsonValueKind.String && type.GetString() == "string";

    /// <summary>A string argument as raw text: its enum or const values, or text without '&lt;' within its length bounds.</summary>
    private static string RawString(JsonElement schema, string path)
    {
        foreach (var keyword in schema.EnumerateObject().Select(p => p.Name))
        {
            if (keyword is not ("type" or "enum" or "const" or "minLength" or "maxLength") && !Annotations.Contains(keyword))
            {
                throw new UnsupportedSchemaException($"{path}.{keyword}", $"The keyword '{keyword}' cannot be enforced on a raw (Qwen3-Coder) string argument.");
            }
        }

        var values = schema.TryGetProperty("const", out var constant) ? [constant]
            : schema.TryGetProperty("enum", out var options) && options.ValueKind == JsonValueKind.Array ? options.EnumerateArray().ToList() : null;
        if (values is not null)
        {
            return "(" + string.Join(" | ", values.Select(v => Literal(v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()))) + ")";
        }

        var min = schema.TryGetProperty("minLength", out var lo) && lo.TryGetInt32(out var l) ? l : 0;
        var max = schema.TryGetProperty("maxLength", out var hi) && hi.TryGetInt32(out var h) ? h : -1;
        if (min < 0 || min > 10_000 || max > 10_000 || (max >= 0 && max < min))
        {
            throw new UnsupportedSchemaException(path + ".maxLength", "minLength/maxLength must be within 0..10000 and minLength <= maxLength.");
        }

        return min == 0 && max < 0 ? "xml-text" : "xml-bchar" + Repeat(min, max);
    }
}
