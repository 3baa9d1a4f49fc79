using System.Text;
using System.Text.Json;

namespace Serving.Gateway.Constraints;

/// <summary>
/// JSON Schema → GBNF (llama.cpp's grammar format), for the subset agent frameworks send: <c>type</c> (one or a
/// list), <c>properties</c>/<c>required</c>/<c>additionalProperties: false</c>, <c>enum</c>, <c>const</c>,
/// <c>items</c> with <c>minItems</c>/<c>maxItems</c>, <c>minLength</c>/<c>maxLength</c>, <c>anyOf</c>/<c>oneOf</c>/<c>allOf</c>,
/// integer bounds,
/// <c>$ref</c> into <c>$defs</c>/<c>definitions</c>, <c>format</c> date, time, date-time and uuid; annotations (<c>title</c>, <c>description</c>, <c>default</c>,
/// <c>examples</c>, <c>$schema</c>, <c>strict</c>) are ignored. Anything else cannot be enforced and is refused with
/// the JSON path of the keyword (<see cref="UnsupportedSchemaException"/>), never silently left unconstrained.
/// Objects come out with their required properties first (declared order), then the optional ones; only declared
/// properties are produced, which every schema that allows extra properties also accepts.
/// </summary>
public sealed partial class JsonSchemaGrammar
{
    private static readonly HashSet<string> Annotations = ["title", "description", "default", "examples", "$schema", "$id", "$comment", "strict"];

    /// <summary>String formats with a grammar (RFC 3339 date/time, UUID); any other format is refused.</summary>
    private static readonly Dictionary<string, string> Formats = new(StringComparer.Ordinal)
    {
        ["date"] = "\"\\\"\" date \"\\\"\" ws",
        ["time"] = "\"\\\"\" time \"\\\"\" ws",
        ["date-time"] = "\"\\\"\" date \"T\" time \"\\\"\" ws",
        ["uuid"] = "\"\\\"\" hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12} \"\\\"\" ws",
    };
    private const int MaxRules = 2000;

    private readonly JsonElement _root;
    private readonly string _path;
    private readonly Dictionary<string, string> _rules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);

    private JsonSchemaGrammar(JsonElement root, string path) => (_root, _path) = (root, path);

    /// <summary>GBNF whose <c>root</c> produces exactly the JSON values the schema describes (compact, one optional space after separators).</summary>
    /// <param name="path">Where the schema sits in the request, for error messages (e.g. <c>response_format.json_schema.schema</c>).</param>
    /// <exception cref="UnsupportedSchemaException">A keyword we cannot enforce.</exception>
    public static string ToGbnf(JsonElement schema, string path)
    {
        var grammar = new JsonSchemaGrammar(schema, path);
        var root = grammar.Visit(schema, path);
        return grammar.Render("root ::= " + root);
    }

    /// <summary>
    /// Values wrapped in fixed text (tool calls around their arguments): <paramref name="before"/>, then one of the
    /// alternatives (each its literal, its schema's value, then <paramref name="suffix"/>) — with
    /// <paramref name="separator"/>, one or more of them, separated by it — then <paramref name="after"/>. Empty texts
    /// are left out.
    /// </summary>
    public static string Wrap(string before, IReadOnlyList<(string Literal, JsonElement? Schema, string Path)> alternatives, string suffix, string? separator = null, string after = "")
    {
        var grammar = new JsonSchemaGrammar(default, "");
        var bodies = alternatives.Select(a => Literal(a.Literal) + " " + (a.Schema is { } s ? new JsonSchemaGrammar(s, a.Path).Into(grammar, s, a.Path) : "value"));
        grammar._rules["item"] = $"({string.Join(" | ", bodies)}){Spaced(suffix)}";
        var more = separator is null ? "" : $" ({(separator.Length > 0 ? Literal(separator) + " " : "")}item)*";
        return grammar.Render($"root ::={Spaced(before)} item{more}{Spaced(after)}");

        static string Spaced(string text) => text.Length > 0 ? " " + Literal(text) : "";
    }

    /// <summary>Generic JSON: any object (JSON mode).</summary>
    public static string AnyObject() => new JsonSchemaGrammar(default, "").Render("root ::= object");

    private string Into(JsonSchemaGrammar target, JsonElement schema, string path)
    {
        var rule = Visit(schema, path);
        foreach (var (name, body) in _rules)
        {
            target._rules[name] = body;
        }

        return rule;
    }

    private string Render(string root)
    {
        var text = new StringBuilder(root).Append('\n');
        foreach (var (name, body) in _rules)
        {
            text.Append(name).Append(" ::= ").Append(body).Append('\n');
        }

        text.Append(Primitives);
        return text.ToString();
    }

    private string Visit(JsonElement schema, string path)
    {
        if (_rules.Count > MaxRules)
        {
            throw new UnsupportedSchemaException(path, "The schema is too large to enforce.");
        }

        if (schema.ValueKind == JsonValueKind.True || (schema.ValueKind == JsonValueKind.Object && !schema.EnumerateObject().Any()))
        {
            return "value";
        }

        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new UnsupportedSchemaException(path, "A schema must be an object (or true).");
        }

        foreach (var keyword in schema.EnumerateObject().Select(p => p.Name))
        {
            if (!Annotations.Contains(keyword) && !Supported.Contains(keyword))
            {
                throw new UnsupportedSchemaException($"{path}.{keyword}", $"The JSON Schema keyword '{keyword}' cannot be enforced by this server.");
            }
        }

        if (schema.TryGetProperty("$ref", out var reference)) return Ref(reference, path + ".$ref");
        if (schema.TryGetProperty("const", out var constant)) return Literal(constant.GetRawText()) + " ws";
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0) throw new UnsupportedSchemaException(path + ".enum", "'enum' must be a non-empty array.");
            return "(" + string.Join(" | ", values.EnumerateArray().Select(v => Literal(v.GetRawText()))) + ") ws";
        }

        if (schema.TryGetProperty("allOf", out var all))
        {
            return AllOf(schema, all, path);
        }

        foreach (var combinator in new[] { "anyOf", "oneOf" })
        {
            if (schema.TryGetProperty(combinator, out var options))
            {
                if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0) throw new UnsupportedSchemaException($"{path}.{combinator}", $"'{combinator}' must be a non-empty array.");
                return "(" + string.Join(" | ", options.EnumerateArray().Select((o, i) => Visit(o, $"{path}.{combinator}[{i}]"))) + ")";
            }
        }

        if (!schema.TryGetProperty("type", out var type))
        {
            return schema.TryGetProperty("properties", out _) ? Object(schema, path) : "value";
        }

        if (type.ValueKind == JsonValueKind.Array)
        {
            return "(" + string.Join(" | ", type.EnumerateArray().Select(t => Typed(schema, t.GetString() ?? "", path))) + ")";
        }

        return Typed(schema, type.GetString() ?? "", path);
    }

    private static readonly HashSet<string> Supported =
        ["type", "properties", "required", "additionalProperties", "enum", "const", "items", "minItems", "maxItems", "minLength", "maxLength", "anyOf", "oneOf", "allOf",
         "$ref", "$defs", "definitions", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

    private string Typed(JsonElement schema, string type, string path) => type switch
    {
        "object" => Object(schema, path),
        "array" => Array(schema, path),
        "string" => String(schema, path),
        "integer" or "number" when schema.TryGetProperty("format", out var f) && f.GetString() is not ("float" or "double") =>
            throw new UnsupportedSchemaException(path + ".format", $"The {type} format '{f}' cannot be enforced (a range is not checked)."),
        "integer" => Integer(schema, path),
        "number" when RangeKeywords.FirstOrDefault(k => schema.TryGetProperty(k, out _)) is { } bound =>
            throw new UnsupportedSchemaException($"{path}.{bound}", "A range on a non-integer number cannot be enforced (integer ranges can)."),
        "number" => "number ws",
        "boolean" => "(\"true\" | \"false\") ws",
        "null" => "\"null\" ws",
        _ => throw new UnsupportedSchemaException(path + ".type", $"Unknown JSON Schema type '{type}'."),
    };

    private string Object(JsonElement schema, string path)
    {
        if (schema.TryGetProperty("additionalProperties", out var extra) && extra.ValueKind is not (JsonValueKind.False or JsonValueKind.True)
            && !(extra.ValueKind == JsonValueKind.Object && !extra.EnumerateObject().Any()))
        {
            throw new UnsupportedSchemaException(path + ".additionalProperties", "Only additionalProperties true or false can be enforced.");
        }

        var required = schema.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Select(x => x.GetString() ?? "").ToHashSet(StringComparer.Ordinal)
            : [];
        if (!schema.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object)
        {
            return required.Count == 0 ? "object" : throw new UnsupportedSchemaException(path + ".required", "'required' names properties that 'properties' does not define.");
        }

        var pairs = new List<(string Rule, bool Required)>();
        foreach (var property in properties.EnumerateObject())
        {
            var valueRule = Visit(property.Value, $"{path}.properties.{property.Name}");
            pairs.Add((Literal(JsonSerializer.Serialize(property.Name)) + " \":\" ws " + valueRule, required.Contains(property.Name)));
        }

        if (required.Any(name => !properties.TryGetProperty(name, out _)))
        {
            throw new UnsupportedSchemaException(path + ".required", "'required' names properties that 'properties' does not define.");
        }

        var must = pairs.Where(p => p.Required).Select(p => p.Rule).ToList();
        var may = pairs.Where(p => !p.Required).Select(p => p.Rule).ToList();
        string body;
        if (must.Count > 0)
        {
            body = string.Join(" \",\" ws ", must) + string.Concat(may.Select(m => $" (\",\" ws {m})?"));
        }
        else
        {
            // No required property: any ordered selection of the optional ones, commas only between them.
            var tails = Enumerable.Range(0, may.Count).Select(i => may[i] + string.Concat(may.Skip(i + 1).Select(m => $" (\",\" ws {m})?")));
            body = may.Count == 0 ? "" : "(" + string.Join(" | ", tails) + ")?";
        }

        return Name(path, $"\"{{\" ws {body} \"}}\" ws");
    }

    private string Array(JsonElement schema, string path)
    {
        var item = schema.TryGetProperty("items", out var items) ? Visit(items, path + ".items") : "value";
        var min = schema.TryGetProperty("minItems", out var mn) && mn.TryGetInt32(out var a) ? a : 0;
        var max = schema.TryGetProperty("maxItems", out var mx) && mx.TryGetInt32(out var b) ? b : -1;
        if (min < 0 || min > 100 || max > 100 || (max >= 0 && max < min))
        {
            throw new UnsupportedSchemaException(path + ".minItems", "minItems/maxItems must be within 0..100 and minItems <= maxItems.");
        }

        var itemRule = Name(path + ".item", item);
        string list;
        if (max == 0) list = "";
        else if (min == 0) list = $"({itemRule} (\",\" ws {itemRule}){Repeat(0, max < 0 ? -1 : max - 1)})?";
        else list = $"{itemRule} (\",\" ws {itemRule}){Repeat(min - 1, max < 0 ? -1 : max - 1)}";
        return Name(path, $"\"[\" ws {list} \"]\" ws");
    }

    private string String(JsonElement schema, string path)
    {
        if (schema.TryGetProperty("format", out var format))
        {
            return Formats.TryGetValue(format.GetString() ?? "", out var rule) && !schema.TryGetProperty("minLength", out _) && !schema.TryGetProperty("maxLength", out _)
                ? rule
                : throw new UnsupportedSchemaException(path + ".format", $"The string format '{format}' cannot be enforced (supported: {string.Join(", ", Formats.Keys)}, without length bounds).");
        }

        var min = schema.TryGetProperty("minLength", out var mn) && mn.TryGetInt32(out var a) ? a : 0;
        var max = schema.TryGetProperty("maxLength", out var mx) && mx.TryGetInt32(out var b) ? b : -1;
        if (min < 0 || min > 10_000 || max > 10_000 || (max >= 0 && max < min))
        {
            throw new UnsupportedSchemaException(path + ".maxLength", "minLength/maxLength must be within 0..10000 and minLength <= maxLength.");
        }

        // Bounded strings stay in the Basic Multilingual Plane, so their length is the same whether a validator counts
        // code points (JSON Schema) or UTF-16 units (JavaScript, .NET).
        return min == 0 && max < 0 ? "string ws" : $"\"\\\"\" bchar{Repeat(min, max)} \"\\\"\" ws";
    }

    private string Name(string path, string body)
    {
        var rule = RuleName(path);
        _rules[rule] = body;
        return rule;
    }

    private string RuleName(string hint)
    {
        var baseName = new string(hint.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-').ToArray()).Trim('-');
        baseName = baseName.Length == 0 ? "r" : baseName[..Math.Min(baseName.Length, 40)];
        var name = baseName;
        for (var i = 2; _rules.ContainsKey(name) || Primitives.Contains($"\n{name} ::=", StringComparison.Ordinal); i++)
        {
            name = $"{baseName}-{i}";
        }

        return name;
    }

    private static string Repeat(int min, int max) => max < 0 ? (min == 0 ? "*" : $"{{{min},}}") : $"{{{min},{max}}}";

    /// <summary>A GBNF string literal of <paramref name="text"/>.</summary>
    internal static string Literal(string text)
    {
        var escaped = new StringBuilder("\"");
        foreach (var c in text)
        {
            escaped.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < ' ' => $"\\x{(int)c:X2}",
                _ => c.ToString(),
            });
        }

        return escaped.Append('"').ToString();
    }

    /// <summary>
    /// llama.cpp's JSON grammar (grammars/json.gbnf), with one optional space as whitespace, bounded numbers, and no
    /// <c>\u</c> escape of a lone UTF-16 surrogate (many JSON readers, ours included, refuse one).
    /// </summary>
    private const string Primitives = """

value ::= object | array | string ws | number ws | ("true" | "false" | "null") ws
object ::= "{" ws ( string ws ":" ws value ( "," ws string ws ":" ws value )* )? "}" ws
array ::= "[" ws ( value ( "," ws value )* )? "]" ws
string ::= "\"" char* "\""
char ::= [^"\\\x7F\x00-\x1F] | escape
bchar ::= [^"\\\x7F\x00-\x1F\U00010000-\U0010FFFF] | escape
escape ::= "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))
integer ::= "-"? ([0-9] | [1-9] [0-9]{0,15})
number ::= integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?
ws ::= " "?
hex ::= [0-9a-fA-F]
date ::= [1-9] [0-9]{3} "-" ("02-" day28 | ("0" [469] | "11") "-" day30 | ("0" [13578] | "1" [02]) "-" day31)
day28 ::= "0" [1-9] | "1" [0-9] | "2" [0-8]
day30 ::= day28 | "29" | "30"
day31 ::= day30 | "31"
time ::= ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])

""";
}

/// <summary>A schema keyword the server cannot enforce: 400 <c>invalid_value</c> naming its path.</summary>
public sealed class UnsupportedSchemaException(string path, string message) : Exception(message)
{
    public string Path { get; } = path;
}
