using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serving.Gateway.Constraints;

/// <summary>The keywords that take more than a line: integer bounds, allOf, $ref.</summary>
public sealed partial class JsonSchemaGrammar
{
    private static readonly string[] RangeKeywords = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

    private static string Integer(JsonElement schema, string path)
    {
        long? Bound(string keyword, int shift)
        {
            if (!schema.TryGetProperty(keyword, out var value)) return null;
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var d) || Math.Abs(d) > 1e15)
            {
                throw new UnsupportedSchemaException($"{path}.{keyword}", $"'{keyword}' must be a number within ±1e15.");
            }

            // A fractional bound rounds inward: minimum 2.5 means 3 and up.
            return shift >= 0 ? (long)Math.Ceiling(d) + (keyword.StartsWith("exclusive", StringComparison.Ordinal) && d == Math.Ceiling(d) ? 1 : 0)
                              : (long)Math.Floor(d) - (keyword.StartsWith("exclusive", StringComparison.Ordinal) && d == Math.Floor(d) ? 1 : 0);
        }

        long? min = null, max = null;
        foreach (var (keyword, lower) in new[] { ("minimum", true), ("exclusiveMinimum", true), ("maximum", false), ("exclusiveMaximum", false) })
        {
            if (Bound(keyword, lower ? 1 : -1) is not { } bound) continue;
            if (lower) min = Math.Max(min ?? long.MinValue, bound);
            else max = Math.Min(max ?? long.MaxValue, bound);
        }

        if (min is null && max is null)
        {
            return "integer ws";
        }

        return min > max
            ? throw new UnsupportedSchemaException(path + ".minimum", "The integer range is empty.")
            : IntegerRangeGrammar.Expression(min, max) + " ws";
    }

    /// <summary>
    /// allOf: one part (Pydantic's way of adding a description to a $ref) is that part; several object schemas are
    /// merged (properties, required, additionalProperties false if any says so). Anything else cannot be enforced.
    /// </summary>
    private string AllOf(JsonElement schema, JsonElement parts, string path)
    {
        if (parts.ValueKind != JsonValueKind.Array || parts.GetArrayLength() == 0)
        {
            throw new UnsupportedSchemaException(path + ".allOf", "'allOf' must be a non-empty array.");
        }

        var siblings = schema.EnumerateObject().Where(p => p.Name != "allOf" && !Annotations.Contains(p.Name)).ToList();
        if (parts.GetArrayLength() == 1 && siblings.Count == 0)
        {
            return Visit(parts[0], path + ".allOf[0]");
        }

        var properties = new JsonObject();
        var required = new HashSet<string>(StringComparer.Ordinal);
        var closed = false;
        var all = parts.EnumerateArray().Select((part, i) => (Resolve(part), $"{path}.allOf[{i}]")).Append((schema, path));
        foreach (var (part, at) in all)
        {
            foreach (var keyword in part.EnumerateObject().Select(p => p.Name))
            {
                if (keyword is not ("type" or "properties" or "required" or "additionalProperties" or "allOf") && !Annotations.Contains(keyword))
                {
                    throw new UnsupportedSchemaException($"{at}.{keyword}", $"Only object schemas can be merged by allOf ('{keyword}').");
                }
            }

            if (part.TryGetProperty("type", out var t) && t.GetString() != "object")
            {
                throw new UnsupportedSchemaException(at + ".type", "Only object schemas can be merged by allOf.");
            }

            if (part.TryGetProperty("properties", out var ps) && ps.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in ps.EnumerateObject()) properties[p.Name] = JsonNode.Parse(p.Value.GetRawText());
            }

            if (part.TryGetProperty("required", out var rs) && rs.ValueKind == JsonValueKind.Array)
            {
                required.UnionWith(rs.EnumerateArray().Select(r => r.GetString() ?? ""));
            }

            closed |= part.TryGetProperty("additionalProperties", out var extra) && extra.ValueKind == JsonValueKind.False;
        }

        var merged = new JsonObject
        {
            ["type"] = "object", ["properties"] = properties, ["required"] = new JsonArray([.. required.Select(r => (JsonNode?)r)]),
            ["additionalProperties"] = !closed,
        };
        return Visit(JsonSerializer.SerializeToElement(merged), path);
    }

    /// <summary>The schema a $ref points to (one level), or the schema itself.</summary>
    private JsonElement Resolve(JsonElement schema)
    {
        if (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("$ref", out var reference) && reference.GetString()?.Split('/') is ["#", var kind and ("$defs" or "definitions"), var name]
            && _root.TryGetProperty(kind, out var defs) && defs.TryGetProperty(name, out var target))
        {
            return target;
        }

        return schema;
    }

    private string Ref(JsonElement reference, string path)
    {
        var target = reference.GetString() ?? "";
        if (_refRules.TryGetValue(target, out var known))
        {
            return known;
        }

        var parts = target.Split('/');
        if (parts.Length != 3 || parts[0] != "#" || parts[1] is not ("$defs" or "definitions")
            || !_root.TryGetProperty(parts[1], out var defs) || !defs.TryGetProperty(parts[2], out var schema))
        {
            throw new UnsupportedSchemaException(path, $"Only references into #/$defs or #/definitions can be followed ('{target}').");
        }

        // Named first, so a recursive schema refers to itself by name.
        var rule = RuleName($"{_path}.{parts[1]}.{parts[2]}");
        _refRules[target] = rule;
        _rules[rule] = "\"\"";
        _rules[rule] = Visit(schema, $"{_path}.{parts[1]}.{parts[2]}");
        return rule;
    }
}
