using System.Globalization;

namespace Serving.Workers.Templates;

/// <summary>Filters, tests, and the methods of strings and mappings: the reference's set, with its argument rules.</summary>
internal sealed partial class JinjaInterpreter
{
    private JinjaValue ApplyFilter(JinjaValue operand, JinjaNode filterNode, JinjaScope scope)
    {
        if (filterNode is Identifier { Name: var name })
        {
            return ApplyPlainFilter(operand, name, scope);
        }

        var filter = (CallExpression)filterNode;
        var filterName = (filter.Callee as Identifier)?.Name ?? throw new JinjaException("Unknown filter");
        switch (filterName)
        {
            case "tojson":
                return new StringValue(JsonText.Write(operand, JsonOptions(EvaluateArguments(filter.Arguments, scope).Keywords)));
            case "join":
            {
                var parts = operand switch
                {
                    StringValue s => CodePoints(s.Value),
                    ArrayValue a => a.Items.Select(JsEquality.ToJsString).ToList(),
                    _ => throw new JinjaException($"Cannot apply filter \"join\" to type: {operand.TypeName}"),
                };
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                var separator = Argument(args, kwargs, 0, "separator") ?? new StringValue("");
                return new StringValue(string.Join(separator is StringValue sep ? sep.Value : throw new JinjaException("separator must be a string"), parts));
            }
            case "int" or "float":
            {
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                var fallback = Argument(args, kwargs, 0, "default") ?? (filterName == "int" ? new IntegerValue(0) : new FloatValue(0));
                return operand switch
                {
                    StringValue s => ParseNumber(s.Value, filterName == "int") ?? fallback,
                    IntegerValue or FloatValue => operand,
                    BooleanValue b => filterName == "int" ? new IntegerValue(b.Value ? 1 : 0) : new FloatValue(b.Value ? 1 : 0),
                    _ => throw new JinjaException($"Cannot apply filter \"{filterName}\" to type: {operand.TypeName}"),
                };
            }
            case "default":
            {
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                var fallback = args.Count > 0 ? args[0] : new StringValue("");
                var boolean = (args.Count > 1 ? args[1] : kwargs.GetValueOrDefault("boolean")) ?? JinjaValue.False;
                if (boolean is not BooleanValue flag)
                {
                    throw new JinjaException("`default` filter flag must be a boolean");
                }

                return operand is UndefinedValue || (flag.Value && !operand.IsTrue) ? fallback : operand;
            }
        }

        switch (operand)
        {
            case ArrayValue array:
                return ApplyListFilter(array, filterName, filter, scope);
            case StringValue text when filterName == "indent":
            {
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                var width = Argument(args, kwargs, 0, "width") ?? new IntegerValue(4);
                var first = (Argument(args, kwargs, 1, "first") ?? JinjaValue.False).IsTrue;
                var blank = (Argument(args, kwargs, 2, "blank") ?? JinjaValue.False).IsTrue;
                var pad = new string(' ', (int)(width as IntegerValue ?? throw new JinjaException("width must be a number")).Value);
                var lines = text.Value.Split('\n');
                return new StringValue(string.Join("\n", lines.Select((line, i) =>
                    (!first && i == 0) || (!blank && line.Length == 0) ? line : pad + line)));
            }
            case StringValue text when filterName == "replace":
            {
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                args.Add(new ObjectValue(kwargs, ObjectKind.KeywordArguments));
                return StringReplace(text.Value, args);
            }
            case ObjectValue { IsMapping: true } mapping when Builtin(mapping, filterName) is FunctionValue method:
            {
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                if (kwargs.Count > 0)
                {
                    args.Add(new ObjectValue(kwargs, ObjectKind.KeywordArguments));
                }

                return Invoke(method, args, scope);
            }
            default:
                throw new JinjaException($"Cannot apply filter \"{filterName}\" to type: {operand.TypeName}");
        }
    }

    private static JinjaValue? Argument(List<JinjaValue> args, OrderedDictionary<string, JinjaValue> kwargs, int index, string name) =>
        index < args.Count ? args[index] : kwargs.GetValueOrDefault(name);

    private static JsonText.Options JsonOptions(OrderedDictionary<string, JinjaValue> kwargs)
    {
        var indent = kwargs.GetValueOrDefault("indent") ?? JinjaValue.None;
        var ensureAscii = kwargs.GetValueOrDefault("ensure_ascii") ?? JinjaValue.False;
        var sortKeys = kwargs.GetValueOrDefault("sort_keys") ?? JinjaValue.False;
        var separators = kwargs.GetValueOrDefault("separators") ?? JinjaValue.None;
        if (indent is not (IntegerValue or NoneValue))
        {
            throw new JinjaException("If set, indent must be a number");
        }

        if (ensureAscii is not BooleanValue || sortKeys is not BooleanValue)
        {
            throw new JinjaException("If set, ensure_ascii and sort_keys must be booleans");
        }

        (string, string)? pair = separators switch
        {
            ArrayValue { Items: [StringValue item, StringValue key] } => (item.Value, key.Value),
            NoneValue => null,
            _ => throw new JinjaException("separators must be a tuple of two strings"),
        };
        return new JsonText.Options((indent as IntegerValue)?.Value is { } n ? (int)n : null, ensureAscii.IsTrue, pair, sortKeys.IsTrue);
    }

    private JinjaValue ApplyPlainFilter(JinjaValue operand, string name, JinjaScope scope)
    {
        switch (name)
        {
            case "safe":
                return operand;
            case "tojson":
                return new StringValue(JsonText.Write(operand, new JsonText.Options()));
        }

        switch (operand)
        {
            case ArrayValue array:
                return name switch
                {
                    "list" => array,
                    "first" => array.Items.Count > 0 ? array.Items[0] : JinjaValue.Undefined,
                    "last" => array.Items.Count > 0 ? array.Items[^1] : JinjaValue.Undefined,
                    "length" => new IntegerValue(array.Items.Count),
                    "reverse" => new ArrayValue(Enumerable.Reverse(array.Items).ToList()),
                    "sort" => new ArrayValue(SortStable(array.Items, (a, b) => Compare(a, b, caseSensitive: false))),
                    "join" => new StringValue(string.Concat(array.Items.Select(JsEquality.ToJsString))),
                    "string" => new StringValue(JsonText.Write(array, new JsonText.Options(), convertUndefinedToNull: false)),
                    "unique" => new ArrayValue(Unique(array.Items)),
                    _ => throw new JinjaException($"Unknown ArrayValue filter: {name}"),
                };
            case StringValue text:
                return name switch
                {
                    "length" or "upper" or "lower" or "title" or "capitalize" => Builtin(text, name) switch
                    {
                        FunctionValue method => Invoke(method, [], scope),
                        var value => value,
                    },
                    "trim" => new StringValue(text.Value.Trim()),
                    "indent" => new StringValue(string.Join("\n", text.Value.Split('\n').Select((line, i) => i == 0 || line.Length == 0 ? line : "    " + line))),
                    "join" or "string" => text,
                    "int" => ParseNumber(text.Value, integer: true) ?? new IntegerValue(0),
                    "float" => ParseNumber(text.Value, integer: false) ?? new FloatValue(0),
                    _ => throw new JinjaException($"Unknown StringValue filter: {name}"),
                };
            case IntegerValue or FloatValue:
                return name switch
                {
                    "abs" => operand is IntegerValue i ? new IntegerValue(Math.Abs(i.Value)) : new FloatValue(Math.Abs(((FloatValue)operand).Value)),
                    "int" => operand is IntegerValue ? operand : new IntegerValue((long)Math.Floor(((FloatValue)operand).Value)),
                    "float" => new FloatValue(operand is IntegerValue n ? n.Value : ((FloatValue)operand).Value),
                    "string" => new StringValue(operand.ToString()),
                    _ => throw new JinjaException($"Unknown NumericValue filter: {name}"),
                };
            case ObjectValue { IsMapping: true } mapping:
                return name switch
                {
                    "items" => Items(mapping),
                    "length" => new IntegerValue(mapping.Entries.Count),
                    _ => Builtin(mapping, name) switch
                    {
                        FunctionValue method => Invoke(method, [], scope),
                        UndefinedValue => throw new JinjaException($"Unknown ObjectValue filter: {name}"),
                        var value => value,
                    },
                };
            case BooleanValue boolean:
                return name switch
                {
                    "bool" => boolean,
                    "int" => new IntegerValue(boolean.Value ? 1 : 0),
                    "float" => new FloatValue(boolean.Value ? 1 : 0),
                    "string" => new StringValue(boolean.Value ? "true" : "false"),
                    _ => throw new JinjaException($"Unknown BooleanValue filter: {name}"),
                };
            default:
                throw new JinjaException($"Cannot apply filter \"{name}\" to type: {operand.TypeName}");
        }
    }

    private JinjaValue ApplyListFilter(ArrayValue array, string name, CallExpression filter, JinjaScope scope)
    {
        switch (name)
        {
            case "sort":
            {
                var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
                var reverse = (Argument(args, kwargs, 0, "reverse") ?? JinjaValue.False).IsTrue;
                var caseSensitive = (Argument(args, kwargs, 1, "case_sensitive") ?? JinjaValue.False).IsTrue;
                var attribute = Argument(args, kwargs, 2, "attribute") ?? JinjaValue.None;
                JinjaValue Key(JinjaValue item) => attribute switch
                {
                    NoneValue => item,
                    StringValue path => AttributePath(item, path.Value),
                    IntegerValue index => AttributePath(item, index.Value.ToString(CultureInfo.InvariantCulture)),
                    _ => throw new JinjaException("attribute must be a string, integer, or null"),
                };
                return new ArrayValue(SortStable(array.Items, (a, b) => (reverse ? -1 : 1) * Compare(Key(a), Key(b), caseSensitive)));
            }
            case "selectattr" or "rejectattr":
            {
                if (array.Items.Any(item => item is not ObjectValue))
                {
                    throw new JinjaException($"`{name}` can only be applied to array of objects");
                }

                if (filter.Arguments.Any(argument => argument is not StringLiteral))
                {
                    throw new JinjaException($"arguments of `{name}` must be strings");
                }

                var args = filter.Arguments.Select(argument => ((StringLiteral)argument).Value).ToList();
                var attribute = args[0];
                JinjaValue? compareTo = args.Count > 2 ? new StringValue(args[2]) : null;
                var select = name == "selectattr";
                return new ArrayValue(array.Items.Where(item =>
                {
                    var passes = ((ObjectValue)item).Entries.TryGetValue(attribute, out var value)
                        && (args.Count > 1 ? RunTest(args[1], compareTo is null ? [value] : [value, compareTo]) : value.IsTrue);
                    return passes == select;
                }).ToList());
            }
            case "map":
            {
                var (_, kwargs) = EvaluateArguments(filter.Arguments, scope);
                if (kwargs.GetValueOrDefault("attribute") is not { } attribute)
                {
                    throw new JinjaException("`map` expressions without `attribute` set are not currently supported.");
                }

                var path = attribute as StringValue ?? throw new JinjaException("attribute must be a string");
                var fallback = kwargs.GetValueOrDefault("default") ?? JinjaValue.Undefined;
                return new ArrayValue(array.Items.Select(item => item is ObjectValue
                    ? AttributePath(item, path.Value) is UndefinedValue ? fallback : AttributePath(item, path.Value)
                    : throw new JinjaException("items in map must be an object")).ToList());
            }
            default:
                throw new JinjaException($"Unknown ArrayValue filter: {name}");
        }
    }

    private static JinjaValue AttributePath(JinjaValue item, string path)
    {
        var value = item;
        foreach (var part in path.Split('.'))
        {
            value = value switch
            {
                ObjectValue mapping => mapping.Entries.GetValueOrDefault(part) ?? JinjaValue.Undefined,
                ArrayValue array when int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) && i >= 0 && i < array.Items.Count => array.Items[i],
                _ => JinjaValue.Undefined,
            };
            if (value is UndefinedValue)
            {
                return value;
            }
        }

        return value;
    }

    private static List<JinjaValue> SortStable(List<JinjaValue> items, Comparison<JinjaValue> comparison) =>
        items.Select((item, index) => (item, index)).OrderBy(p => p, Comparer<(JinjaValue Item, int Index)>.Create((a, b) =>
            comparison(a.Item, b.Item) is var c && c != 0 ? c : a.Index.CompareTo(b.Index))).Select(p => p.item).ToList();

    private static List<JinjaValue> Unique(List<JinjaValue> items)
    {
        var output = new List<JinjaValue>();
        foreach (var item in items)
        {
            if (!output.Any(seen => JsEquality.Strict(seen, item) || (seen is FloatValue { Value: double.NaN } && item is FloatValue { Value: double.NaN })))
            {
                output.Add(item);
            }
        }

        return output;
    }

    private static int Compare(JinjaValue a, JinjaValue b, bool caseSensitive)
    {
        if (a is NoneValue && b is NoneValue || a is UndefinedValue && b is UndefinedValue)
        {
            return 0;
        }

        if (a is NoneValue or UndefinedValue || b is NoneValue or UndefinedValue)
        {
            throw new JinjaException($"Cannot compare {a.TypeName} with {b.TypeName}");
        }

        if (Numeric(a) is { } x && Numeric(b) is { } y)
        {
            return x.CompareTo(y);
        }

        if (a is StringValue s && b is StringValue t)
        {
            return caseSensitive ? string.CompareOrdinal(s.Value, t.Value)
                : string.CompareOrdinal(s.Value.ToLowerInvariant(), t.Value.ToLowerInvariant());
        }

        throw new JinjaException($"Cannot compare different types: {a.TypeName} and {b.TypeName}");
    }

    private static JinjaValue? ParseNumber(string text, bool integer)
    {
        // JavaScript's parseInt/parseFloat: leading white space, then the longest numeric prefix.
        var trimmed = text.TrimStart();
        var length = 0;
        if (length < trimmed.Length && trimmed[length] is '+' or '-')
        {
            length++;
        }

        var digitsStart = length;
        while (length < trimmed.Length && (char.IsAsciiDigit(trimmed[length]) || (!integer && trimmed[length] is '.' or 'e' or 'E')))
        {
            length++;
        }

        for (; length > digitsStart; length--)
        {
            var prefix = trimmed[..length];
            if (integer && long.TryParse(prefix, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            {
                return new IntegerValue(n);
            }

            if (!integer && double.TryParse(prefix, NumberStyles.Float, CultureInfo.InvariantCulture, out var f))
            {
                return new FloatValue(f);
            }
        }

        return null;
    }

    private static ArrayValue Items(ObjectValue mapping) =>
        new(mapping.Entries.Select(e => (JinjaValue)new ArrayValue([new StringValue(e.Key), e.Value])).ToList());

    private bool RunTest(string name, List<JinjaValue> operands)
    {
        var operand = operands[0];
        return name switch
        {
            "boolean" => operand is BooleanValue,
            "callable" => operand is FunctionValue,
            "odd" => operand is IntegerValue odd ? odd.Value % 2 != 0 : throw new JinjaException($"cannot odd on {operand.TypeName}"),
            "even" => operand is IntegerValue even ? even.Value % 2 == 0 : throw new JinjaException($"cannot even on {operand.TypeName}"),
            "false" => operand is BooleanValue { Value: false },
            "true" => operand is BooleanValue { Value: true },
            "none" => operand is NoneValue,
            "string" => operand is StringValue,
            "number" => operand is IntegerValue or FloatValue,
            "integer" => operand is IntegerValue,
            "iterable" => operand is ArrayValue or StringValue,
            "mapping" => operand is ObjectValue { IsMapping: true },
            "sequence" => operand is ArrayValue or StringValue or ObjectValue { IsMapping: true },
            "lower" => operand is StringValue lower ? lower.Value == lower.Value.ToLowerInvariant() : throw new JinjaException("lower test needs a string"),
            "upper" => operand is StringValue upper ? upper.Value == upper.Value.ToUpperInvariant() : throw new JinjaException("upper test needs a string"),
            "defined" => operand is not UndefinedValue,
            "undefined" => operand is UndefinedValue,
            "equalto" or "eq" => operands.Count > 1 ? JsEquality.Strict(operand, operands[1]) : throw new JinjaException($"test {name} needs a value to compare with"),
            _ => throw new JinjaException($"Unknown test: {name}"),
        };
    }
}
