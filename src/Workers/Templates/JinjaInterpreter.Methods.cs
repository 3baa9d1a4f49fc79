using System.Text;

namespace Serving.Workers.Templates;

/// <summary>The methods templates call on values (<c>content.strip()</c>, <c>message.get('x')</c>, <c>tools|length</c>).</summary>
internal sealed partial class JinjaInterpreter
{
    private static JinjaValue Builtin(JinjaValue target, string name) => target switch
    {
        StringValue text => StringMethod(text.Value, name),
        ObjectValue { IsMapping: true } mapping => MappingMethod(mapping, name),
        ArrayValue array when name == "length" => new IntegerValue(array.Items.Count),
        _ => JinjaValue.Undefined,
    };

    private static FunctionValue Method(Func<List<JinjaValue>, JinjaValue> body) => new((args, _) => body(args));

    private static JinjaValue StringMethod(string value, string name) => name switch
    {
        "upper" => Method(_ => new StringValue(value.ToUpperInvariant())),
        "lower" => Method(_ => new StringValue(value.ToLowerInvariant())),
        "strip" => Method(_ => new StringValue(JsText.Trim(value, start: true, end: true))),
        "lstrip" => Method(_ => new StringValue(JsText.Trim(value, start: true, end: false))),
        "rstrip" => Method(_ => new StringValue(JsText.Trim(value, start: false, end: true))),
        "title" => Method(_ => new StringValue(JsText.TitleCase(value))),
        "capitalize" => Method(_ => new StringValue(value.Length == 0 ? value : char.ToUpperInvariant(value[0]) + value[1..])),
        "length" => new IntegerValue(value.Length),
        "startswith" => Method(args => JinjaValue.From(AffixMatches(args, "startswith", affix => value.StartsWith(affix, StringComparison.Ordinal)))),
        "endswith" => Method(args => JinjaValue.From(AffixMatches(args, "endswith", affix => value.EndsWith(affix, StringComparison.Ordinal)))),
        "split" => Method(args => Split(value, args)),
        "replace" => Method(args => StringReplace(value, args)),
        _ => JinjaValue.Undefined,
    };

    private static bool AffixMatches(List<JinjaValue> args, string name, Func<string, bool> matches) => args.Count switch
    {
        0 => throw new JinjaException($"{name}() requires at least one argument"),
        _ => args[0] switch
        {
            StringValue affix => matches(affix.Value),
            ArrayValue affixes => affixes.Items.Any(item => item is StringValue s ? matches(s.Value)
                : throw new JinjaException($"{name}() tuple elements must be strings")),
            _ => throw new JinjaException($"{name}() argument must be a string or tuple of strings"),
        },
    };

    private static JinjaValue Split(string value, List<JinjaValue> args)
    {
        var separator = args.Count > 0 ? args[0] : JinjaValue.None;
        var maxSplit = args.Count > 1 ? args[1] as IntegerValue ?? throw new JinjaException("maxsplit argument must be a number") : new IntegerValue(-1);
        var parts = new List<string>();
        if (separator is NoneValue)
        {
            var text = JsText.Trim(value, start: true, end: false);
            var i = 0;
            while (i < text.Length)
            {
                while (i < text.Length && JsText.IsWhitespace(text[i]))
                {
                    i++;
                }

                if (i >= text.Length)
                {
                    break;
                }

                if (maxSplit.Value != -1 && parts.Count >= maxSplit.Value)
                {
                    parts.Add(text[i..]);
                    break;
                }

                var start = i;
                while (i < text.Length && !JsText.IsWhitespace(text[i]))
                {
                    i++;
                }

                parts.Add(text[start..i]);
            }
        }
        else if (separator is StringValue { Value: var sep })
        {
            if (sep.Length == 0)
            {
                throw new JinjaException("empty separator");
            }

            parts = [.. value.Split(sep)];
            if (maxSplit.Value != -1 && parts.Count > maxSplit.Value)
            {
                var rest = string.Join(sep, parts.Skip((int)maxSplit.Value));
                parts = [.. parts.Take((int)maxSplit.Value), rest];
            }
        }
        else
        {
            throw new JinjaException("sep argument must be a string or null");
        }

        return new ArrayValue(parts.Select(p => (JinjaValue)new StringValue(p)).ToList());
    }

    private static JinjaValue StringReplace(string value, List<JinjaValue> args)
    {
        if (args.Count < 2 || args[0] is not StringValue oldValue || args[1] is not StringValue newValue)
        {
            throw new JinjaException("replace() requires two string arguments");
        }

        var count = args.Count > 2
            ? args[2] is ObjectValue { Kind: ObjectKind.KeywordArguments } keywords ? keywords.Entries.GetValueOrDefault("count") ?? JinjaValue.None : args[2]
            : JinjaValue.None;
        var remaining = count switch
        {
            NoneValue => long.MaxValue,
            IntegerValue n => n.Value < 0 ? long.MaxValue : n.Value,
            _ => throw new JinjaException("replace() count argument must be a number or null"),
        };
        if (remaining == 0)
        {
            return new StringValue(value);
        }

        if (oldValue.Value.Length == 0)
        {
            // Python inserts the replacement between code points (and at both ends), up to count times.
            var text = new StringBuilder();
            foreach (var point in CodePoints(value))
            {
                text.Append(remaining-- > 0 ? newValue.Value : "").Append(point);
            }

            return new StringValue(text.Append(remaining > 0 ? newValue.Value : "").ToString());
        }

        var result = new StringBuilder();
        var position = 0;
        while (remaining > 0 && value.IndexOf(oldValue.Value, position, StringComparison.Ordinal) is var found and >= 0)
        {
            result.Append(value, position, found - position).Append(newValue.Value);
            position = found + oldValue.Value.Length;
            remaining--;
        }

        return new StringValue(result.Append(value, position, value.Length - position).ToString());
    }

    private static JinjaValue MappingMethod(ObjectValue mapping, string name) => name switch
    {
        "get" => Method(args => args.Count > 0 && args[0] is StringValue key
            ? mapping.Entries.GetValueOrDefault(key.Value) ?? (args.Count > 1 ? args[1] : JinjaValue.None)
            : throw new JinjaException("Object key must be a string")),
        "items" => Method(_ => Items(mapping)),
        "keys" => Method(_ => new ArrayValue(mapping.Entries.Keys.Select(JinjaValue.From).ToList())),
        "values" => Method(_ => new ArrayValue(mapping.Entries.Values.ToList())),
        "dictsort" => Method(args => DictSort(mapping, args)),
        _ => JinjaValue.Undefined,
    };

    private static JinjaValue DictSort(ObjectValue mapping, List<JinjaValue> args)
    {
        var positional = args.Where(a => a is not ObjectValue { Kind: ObjectKind.KeywordArguments }).ToList();
        var kwargs = args.OfType<ObjectValue>().LastOrDefault(a => a.Kind == ObjectKind.KeywordArguments)?.Entries ?? [];
        var caseSensitive = (Argument(positional, kwargs, 0, "case_sensitive") ?? JinjaValue.False) as BooleanValue
            ?? throw new JinjaException("case_sensitive must be a boolean");
        var by = (Argument(positional, kwargs, 1, "by") ?? new StringValue("key")) as StringValue is { Value: "key" or "value" } b ? b.Value
            : throw new JinjaException("by must be either 'key' or 'value'");
        var reverse = (Argument(positional, kwargs, 2, "reverse") ?? JinjaValue.False) as BooleanValue
            ?? throw new JinjaException("reverse must be a boolean");
        var index = by == "key" ? 0 : 1;
        return new ArrayValue(SortStable(Items(mapping).Items, (x, y) => (reverse.Value ? -1 : 1)
            * Compare(((ArrayValue)x).Items[index], ((ArrayValue)y).Items[index], caseSensitive.Value)));
    }
}

/// <summary>JavaScript's notions of white space and words, which the reference's string methods use.</summary>
internal static class JsText
{
    public static bool IsWhitespace(char c) => c is '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or '\u00A0' or '\u1680'
        or (>= '\u2000' and <= '\u200A') or '\u2028' or '\u2029' or '\u202F' or '\u205F' or '\u3000' or '\uFEFF';

    public static string Trim(string value, bool start, bool end)
    {
        var from = 0;
        var to = value.Length;
        while (start && from < to && IsWhitespace(value[from]))
        {
            from++;
        }

        while (end && to > from && IsWhitespace(value[to - 1]))
        {
            to--;
        }

        return value[from..to];
    }

    /// <summary>Upper-cases every word character that starts a word (<c>/\b\w/g</c>).</summary>
    public static string TitleCase(string value)
    {
        var chars = value.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (JinjaLexer.IsWord(chars[i]) && (i == 0 || !JinjaLexer.IsWord(chars[i - 1])))
            {
                chars[i] = char.ToUpperInvariant(chars[i]);
            }
        }

        return new string(chars);
    }
}
