using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Serving.Workers.Templates;

/// <summary>
/// A runtime value, typed as @huggingface/jinja types them (integers and floats apart, objects keep insertion order,
/// undefined apart from none), and printed as it prints them, so a render matches the reference byte for byte.
/// </summary>
public abstract class JinjaValue
{
    public static readonly JinjaValue Undefined = new UndefinedValue();
    public static readonly JinjaValue None = new NoneValue();
    public static readonly JinjaValue True = new BooleanValue(true);
    public static readonly JinjaValue False = new BooleanValue(false);

    public abstract string TypeName { get; }

    /// <summary>Python truthiness: empty strings, lists and mappings are false.</summary>
    public virtual bool IsTrue => true;

    /// <summary>How <c>{{ value }}</c> prints it.</summary>
    public override string ToString() => "";

    public static JinjaValue From(bool value) => value ? True : False;

    public static JinjaValue From(string value) => new StringValue(value);

    public static JinjaValue From(long value) => new IntegerValue(value);

    /// <summary>Converts parsed JSON as JavaScript's <c>JSON.parse</c> plus the reference's conversion would.</summary>
    public static JinjaValue FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => new StringValue(element.GetString()!),
        JsonValueKind.Number => FromNumber(element.GetDouble()),
        JsonValueKind.True => True,
        JsonValueKind.False => False,
        JsonValueKind.Null => None,
        JsonValueKind.Array => new ArrayValue(element.EnumerateArray().Select(FromJson).ToList()),
        JsonValueKind.Object => ObjectValue.FromEntries(element.EnumerateObject().Select(p => (p.Name, FromJson(p.Value)))),
        _ => Undefined,
    };

    /// <summary>JavaScript has one number type; the reference calls whole numbers integers.</summary>
    public static JinjaValue FromNumber(double value) =>
        double.IsFinite(value) && Math.Floor(value) == value && Math.Abs(value) < 9.2e18 ? new IntegerValue((long)value) : new FloatValue(value);
}

public sealed class UndefinedValue : JinjaValue
{
    public override string TypeName => "UndefinedValue";

    public override bool IsTrue => false;
}

public sealed class NoneValue : JinjaValue
{
    public override string TypeName => "NullValue";

    public override bool IsTrue => false;
}

public sealed class BooleanValue(bool value) : JinjaValue
{
    public bool Value => value;

    public override string TypeName => "BooleanValue";

    public override bool IsTrue => value;

    public override string ToString() => value ? "true" : "false";
}

public sealed class IntegerValue(long value) : JinjaValue
{
    public long Value => value;

    public override string TypeName => "IntegerValue";

    public override bool IsTrue => value != 0;

    public override string ToString() => value.ToString(CultureInfo.InvariantCulture);
}

public sealed class FloatValue(double value) : JinjaValue
{
    public double Value => value;

    public override string TypeName => "FloatValue";

    public override bool IsTrue => value != 0 && !double.IsNaN(value);

    /// <summary>Whole floats keep a ".0" (Python's str), others print as JavaScript prints numbers.</summary>
    public override string ToString() =>
        double.IsNegative(value) && value == 0 ? "-0.0"
        : double.IsFinite(value) && value % 1 == 0 && Math.Abs(value) < 1e21 ? value.ToString("F1", CultureInfo.InvariantCulture)
        : JsonText.Number(value);
}

public sealed class StringValue(string value) : JinjaValue
{
    public string Value => value;

    public override string TypeName => "StringValue";

    public override bool IsTrue => value.Length > 0;

    public override string ToString() => value;
}

/// <summary>A list; tuples are lists that remember they were written as tuples.</summary>
public sealed class ArrayValue(List<JinjaValue> items, bool isTuple = false) : JinjaValue
{
    public List<JinjaValue> Items => items;

    public override string TypeName => isTuple ? "TupleValue" : "ArrayValue";

    public override bool IsTrue => items.Count > 0;

    public override string ToString() => JsonText.Write(this, new JsonText.Options(), convertUndefinedToNull: false);
}

/// <summary>What kind of mapping: a plain object, the keyword arguments of a call, or a <c>namespace()</c>.</summary>
public enum ObjectKind { Object, KeywordArguments, Namespace }

public sealed class ObjectValue(OrderedDictionary<string, JinjaValue> entries, ObjectKind kind = ObjectKind.Object) : JinjaValue
{
    public OrderedDictionary<string, JinjaValue> Entries => entries;

    public ObjectKind Kind => kind;

    /// <summary>True for mappings (<c>is mapping</c>, <c>in</c>, builtins such as <c>.items()</c>); false for namespaces.</summary>
    public bool IsMapping => kind != ObjectKind.Namespace;

    public override string TypeName => kind switch
    {
        ObjectKind.KeywordArguments => "KeywordArgumentsValue",
        ObjectKind.Namespace => "NamespaceValue",
        _ => "ObjectValue",
    };

    // A namespace is always true in the reference (a JavaScript Map object), a mapping when it has entries.
    public override bool IsTrue => kind == ObjectKind.Namespace || entries.Count > 0;

    public override string ToString() => JsonText.Write(this, new JsonText.Options(), convertUndefinedToNull: false);

    /// <summary>
    /// An object built from JSON keys in JavaScript's property order: keys that are array indices first, ascending,
    /// then the others as written (the reference receives its context as a JavaScript object).
    /// </summary>
    public static ObjectValue FromEntries(IEnumerable<(string Key, JinjaValue Value)> pairs)
    {
        var list = pairs.ToList();
        var ordered = list.Where(p => IsArrayIndex(p.Key)).OrderBy(p => uint.Parse(p.Key, CultureInfo.InvariantCulture))
            .Concat(list.Where(p => !IsArrayIndex(p.Key)));
        var entries = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        foreach (var (key, value) in ordered)
        {
            entries[key] = value;
        }

        return new ObjectValue(entries);
    }

    private static bool IsArrayIndex(string key) =>
        key.Length > 0 && (key == "0" || key[0] != '0') && key.All(char.IsAsciiDigit)
        && uint.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n != uint.MaxValue;
}

/// <summary>A callable: a macro, a global such as <c>raise_exception</c>, or a builtin method bound to its value.</summary>
public sealed class FunctionValue(Func<List<JinjaValue>, JinjaScope, JinjaValue> function) : JinjaValue
{
    public override string TypeName => "FunctionValue";

    public JinjaValue Invoke(List<JinjaValue> arguments, JinjaScope scope) => function(arguments, scope);
}

/// <summary>JSON as the reference's <c>tojson</c> writes it: Python's separators, JavaScript's string and number forms.</summary>
internal static class JsonText
{
    public sealed record Options(int? Indent = null, bool EnsureAscii = false, (string Item, string Key)? Separators = null, bool SortKeys = false);

    public static string Write(JinjaValue value, Options options, bool convertUndefinedToNull = true)
    {
        var text = new StringBuilder();
        Write(text, value, options, 0, convertUndefinedToNull);
        return text.ToString();
    }

    private static void Write(StringBuilder text, JinjaValue value, Options options, int depth, bool convertUndefinedToNull)
    {
        var (itemSeparator, keySeparator) = options.Separators ?? (options.Indent is > 0 ? (",", ": ") : (", ", ": "));
        switch (value)
        {
            case NoneValue:
                text.Append("null");
                return;
            case UndefinedValue:
                text.Append(convertUndefinedToNull ? "null" : "undefined");
                return;
            case IntegerValue integer:
                text.Append(integer.Value.ToString(CultureInfo.InvariantCulture));
                return;
            case FloatValue number:
                text.Append(double.IsFinite(number.Value) ? Number(number.Value) : "null");
                return;
            case BooleanValue boolean:
                text.Append(boolean.Value ? "true" : "false");
                return;
            case StringValue s:
                String(text, s.Value, options.EnsureAscii);
                return;
            case ArrayValue or ObjectValue:
                break;
            default:
                throw new JinjaException($"Cannot convert to JSON: {value.TypeName}");
        }

        var indent = options.Indent is > 0 ? new string(' ', options.Indent.Value) : "";
        var basePadding = "\n" + string.Concat(Enumerable.Repeat(indent, depth));
        var childPadding = basePadding + indent;
        var pretty = indent.Length > 0;
        if (value is ArrayValue array)
        {
            text.Append('[');
            for (var i = 0; i < array.Items.Count; i++)
            {
                text.Append(i == 0 ? pretty ? childPadding : "" : pretty ? itemSeparator + childPadding : itemSeparator);
                Write(text, array.Items[i], options, depth + 1, convertUndefinedToNull);
            }

            text.Append(pretty && array.Items.Count > 0 ? basePadding + "]" : "]");
            return;
        }

        var entries = ((ObjectValue)value).Entries.ToList();
        if (options.SortKeys)
        {
            // JavaScript's localeCompare: the ICU root collation, which .NET's invariant culture also uses.
            entries.Sort((a, b) => string.Compare(a.Key, b.Key, CultureInfo.InvariantCulture, CompareOptions.None));
        }

        text.Append('{');
        for (var i = 0; i < entries.Count; i++)
        {
            text.Append(i == 0 ? "" : itemSeparator);
            if (pretty)
            {
                text.Append(childPadding);
            }

            String(text, entries[i].Key, options.EnsureAscii);
            text.Append(keySeparator);
            Write(text, entries[i].Value, options, depth + 1, convertUndefinedToNull);
        }

        text.Append(pretty && entries.Count > 0 ? basePadding + "}" : "}");
    }

    /// <summary>JavaScript's <c>JSON.stringify</c> of a string, with Python's <c>ensure_ascii</c> on request.</summary>
    public static void String(StringBuilder text, string value, bool ensureAscii)
    {
        text.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"': text.Append("\\\""); continue;
                case '\\': text.Append("\\\\"); continue;
                case '\b': text.Append("\\b"); continue;
                case '\f': text.Append("\\f"); continue;
                case '\n': text.Append("\\n"); continue;
                case '\r': text.Append("\\r"); continue;
                case '\t': text.Append("\\t"); continue;
            }

            var loneSurrogate = char.IsHighSurrogate(c) ? i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1])
                : char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(value[i - 1]));
            if (c < 0x20 || loneSurrogate || (ensureAscii && c >= 0x7f))
            {
                text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        text.Append('"');
    }

    /// <summary>JavaScript's shortest round-trip number form (1e-7, 1e+21, 0.1).</summary>
    public static string Number(double value)
    {
        if (value == 0)
        {
            return "0";
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E');
        if (e < 0)
        {
            return text;
        }

        var exponent = int.Parse(text[(e + 1)..], CultureInfo.InvariantCulture);
        if (exponent is >= -6 and < 21)
        {
            return ((decimal)value).ToString(CultureInfo.InvariantCulture);
        }

        return text[..e] + "e" + (exponent > 0 ? "+" : "-") + Math.Abs(exponent).ToString(CultureInfo.InvariantCulture);
    }
}
