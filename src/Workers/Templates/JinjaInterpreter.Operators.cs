using System.Globalization;

namespace Serving.Workers.Templates;

/// <summary>Operators, macros and call blocks, with the reference's JavaScript-flavoured semantics.</summary>
internal sealed partial class JinjaInterpreter
{
    private JinjaValue EvaluateUnary(UnaryExpression unary, JinjaScope scope)
    {
        var argument = Evaluate(unary.Argument, scope);
        if (unary.Operator == "not")
        {
            return JinjaValue.From(!argument.IsTrue);
        }

        var sign = unary.Operator == "-" ? -1 : 1;
        return argument switch
        {
            IntegerValue n => new IntegerValue(sign * n.Value),
            FloatValue f => new FloatValue(sign * f.Value),
            BooleanValue b => new IntegerValue(sign * (b.Value ? 1 : 0)),
            _ => throw new JinjaException($"Unknown operator \"{unary.Operator}\" for {argument.TypeName}"),
        };
    }

    private JinjaValue EvaluateBinary(BinaryExpression binary, JinjaScope scope)
    {
        var op = binary.Operator;
        var left = Evaluate(binary.Left, scope);
        switch (op)
        {
            case "and":
                return left.IsTrue ? Evaluate(binary.Right, scope) : left;
            case "or":
                return left.IsTrue ? left : Evaluate(binary.Right, scope);
        }

        var right = Evaluate(binary.Right, scope);
        switch (op)
        {
            case "==":
                return JinjaValue.From(JsEquality.Loose(left, right));
            case "!=":
                return JinjaValue.From(!JsEquality.Loose(left, right));
        }

        if (left is UndefinedValue || right is UndefinedValue)
        {
            return right is UndefinedValue && op is "in" or "not in" ? JinjaValue.From(op == "not in")
                : throw new JinjaException($"Cannot perform operation {op} on undefined values");
        }

        if (left is NoneValue || right is NoneValue)
        {
            throw new JinjaException("Cannot perform operation on null values");
        }

        if (op == "~")
        {
            return new StringValue(JsEquality.ToJsString(left) + JsEquality.ToJsString(right));
        }

        if (op == "**" && Numeric(left) is { } powBase && Numeric(right) is { } exponent)
        {
            if (powBase == 0 && exponent < 0)
            {
                throw new JinjaException("0.0 cannot be raised to a negative power");
            }

            var power = Math.Pow(powBase, exponent);
            if (!double.IsFinite(power))
            {
                throw new JinjaException("Exponentiation result is not a finite real number");
            }

            return left is FloatValue || right is FloatValue || exponent < 0 ? new FloatValue(power) : new IntegerValue((long)power);
        }

        if (left is IntegerValue or FloatValue && right is IntegerValue or FloatValue)
        {
            return Arithmetic(op, left, right);
        }

        if (left is ArrayValue leftArray && right is ArrayValue rightArray)
        {
            if (op == "+")
            {
                return new ArrayValue([.. leftArray.Items, .. rightArray.Items]);
            }
        }
        else if (right is ArrayValue list && op is "in" or "not in")
        {
            var member = list.Items.Any(item => JsEquality.Strict(item, left));
            return JinjaValue.From(member == (op == "in"));
        }

        if ((left is StringValue || right is StringValue) && op == "+")
        {
            return new StringValue(JsEquality.ToJsString(left) + JsEquality.ToJsString(right));
        }

        if (left is StringValue needle && op is "in" or "not in")
        {
            var contained = right switch
            {
                StringValue haystack => haystack.Value.Contains(needle.Value, StringComparison.Ordinal),
                ObjectValue { IsMapping: true } mapping => mapping.Entries.ContainsKey(needle.Value),
                _ => (bool?)null,
            };
            if (contained is { } found)
            {
                return JinjaValue.From(found == (op == "in"));
            }
        }

        throw new JinjaException($"Unknown operator \"{op}\" between {left.TypeName} and {right.TypeName}");
    }

    private static double? Numeric(JinjaValue value) => value switch
    {
        IntegerValue n => n.Value,
        FloatValue f => f.Value,
        BooleanValue b => b.Value ? 1 : 0,
        _ => null,
    };

    private static JinjaValue Arithmetic(string op, JinjaValue left, JinjaValue right)
    {
        var isFloat = left is FloatValue || right is FloatValue;
        if (!isFloat && op is "+" or "-" or "*" or "//" or "%")
        {
            var x = ((IntegerValue)left).Value;
            var y = ((IntegerValue)right).Value;
            if (y == 0 && op is "//" or "%")
            {
                throw new JinjaException("integer division or modulo by zero");
            }

            return new IntegerValue(op switch
            {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "//" => (long)Math.Floor((double)x / y),
                _ => x % y, // JavaScript's remainder: the sign of the dividend
            });
        }

        var a = Numeric(left)!.Value;
        var b = Numeric(right)!.Value;
        return op switch
        {
            "+" => new FloatValue(a + b),
            "-" => new FloatValue(a - b),
            "*" => new FloatValue(a * b),
            "/" => new FloatValue(a / b),
            "//" => new FloatValue(Math.Floor(a / b)),
            "%" => new FloatValue(a % b),
            "<" => JinjaValue.From(a < b),
            ">" => JinjaValue.From(a > b),
            ">=" => JinjaValue.From(a >= b),
            "<=" => JinjaValue.From(a <= b),
            _ => throw new JinjaException($"Unknown operator \"{op}\" between {left.TypeName} and {right.TypeName}"),
        };
    }

    private JinjaValue DefineMacro(MacroStatement macro, JinjaScope scope)
    {
        var special = SpecialArguments(macro.Parameters, macro.Body);
        scope.Set(macro.Name, new FunctionValue((arguments, callerScope) =>
        {
            // The reference scopes a macro's body under the scope it is called from, not where it was defined.
            var macroScope = new JinjaScope(callerScope);
            BindArguments($"'{macro.Name}'", macro.Parameters, special, arguments, macroScope);
            return new StringValue(Block(macro.Body, macroScope));
        }));
        return JinjaValue.None;
    }

    private JinjaValue EvaluateCallBlock(CallBlock block, JinjaScope scope)
    {
        var parameters = block.CallerParameters ?? [];
        var special = SpecialArguments(parameters, block.Body);
        var caller = new FunctionValue((arguments, _) =>
        {
            var callerScope = new JinjaScope(scope);
            BindArguments("None", parameters, special, arguments, callerScope);
            return new StringValue(Block(block.Body, callerScope));
        });

        var (arguments, keywords) = EvaluateArguments(block.Call.Arguments, scope);
        arguments.Add(new ObjectValue(keywords, ObjectKind.KeywordArguments));
        var function = Evaluate(block.Call.Callee, scope) as FunctionValue
            ?? throw new JinjaException("Cannot call something that is not a function");
        var callScope = new JinjaScope(scope);
        callScope.Set("caller", caller);
        return Invoke(function, arguments, callScope);
    }

    private void BindArguments(string name, List<JinjaNode> parameters, (bool Kwargs, bool Varargs) special, List<JinjaValue> arguments, JinjaScope scope)
    {
        var positional = arguments.ToList();
        var keywords = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        if (positional.Count > 0 && positional[^1] is ObjectValue { Kind: ObjectKind.KeywordArguments } passed)
        {
            foreach (var (key, value) in passed.Entries)
            {
                keywords[key] = value;
            }

            positional.RemoveAt(positional.Count - 1);
        }

        var pendingDefaults = new List<(string Name, JinjaNode Default)>();
        for (var i = 0; i < parameters.Count; i++)
        {
            var (parameter, defaultValue) = parameters[i] switch
            {
                Identifier id => (id.Name, (JinjaNode?)null),
                KeywordArgument keyword => (keyword.Key.Name, keyword.Value),
                _ => throw new JinjaException("Expected identifier for parameter declaration"),
            };
            var value = i < positional.Count ? positional[i] : null;
            if (value is null && keywords.Remove(parameter, out var byName))
            {
                value = byName;
            }

            if (value is null && defaultValue is not null)
            {
                pendingDefaults.Add((parameter, defaultValue));
            }

            scope.Set(parameter, value ?? JinjaValue.Undefined);
        }

        if (special.Kwargs)
        {
            scope.Set("kwargs", new ObjectValue(keywords));
        }
        else if (keywords.Count > 0)
        {
            throw new JinjaException($"macro {name} takes no keyword argument '{keywords.GetAt(0).Key}'");
        }

        if (special.Varargs)
        {
            scope.Set("varargs", new ArrayValue(positional.Skip(parameters.Count).ToList()));
        }
        else if (positional.Count > parameters.Count)
        {
            throw new JinjaException($"macro {name} takes not more than {parameters.Count} argument(s)");
        }

        foreach (var (parameter, defaultValue) in pendingDefaults)
        {
            scope.Set(parameter, Evaluate(defaultValue, scope));
        }
    }

    /// <summary>Whether a macro's body reads <c>kwargs</c> or <c>varargs</c> without declaring them (Jinja's catch-alls).</summary>
    private static (bool Kwargs, bool Varargs) SpecialArguments(List<JinjaNode> parameters, List<JinjaNode> body)
    {
        var declared = parameters.Select(p => p switch { Identifier id => id.Name, KeywordArgument k => k.Key.Name, _ => "" }).ToHashSet();
        var kwargs = false;
        var varargs = false;
        var pending = new Stack<JinjaNode?>(body.Concat(parameters.OfType<KeywordArgument>().Select(p => p.Value)));
        while (pending.TryPop(out var node))
        {
            if (node is Identifier { Name: "kwargs" or "varargs" } id && !declared.Contains(id.Name))
            {
                kwargs |= id.Name == "kwargs";
                varargs |= id.Name == "varargs";
            }

            foreach (var child in node?.Children ?? [])
            {
                pending.Push(child);
            }
        }

        return (kwargs, varargs);
    }
}

/// <summary>JavaScript's equality and string conversion, which the reference's operators inherit.</summary>
internal static class JsEquality
{
    /// <summary>JavaScript's <c>==</c> on the underlying values (the reference compares <c>left.value == right.value</c>).</summary>
    public static bool Loose(JinjaValue a, JinjaValue b)
    {
        var aNullish = a is UndefinedValue or NoneValue;
        var bNullish = b is UndefinedValue or NoneValue;
        if (aNullish || bNullish)
        {
            return aNullish && bNullish;
        }

        var x = Primitive(a);
        var y = Primitive(b);
        if (x is null && y is null)
        {
            return SameReference(a, b);
        }

        return LoosePrimitive(x ?? ToJsString(a), y ?? ToJsString(b));
    }

    private static bool LoosePrimitive(object x, object y) => (x, y) switch
    {
        (double p, double q) => p == q,
        (string p, string q) => p == q,
        (bool p, bool q) => p == q,
        (bool p, _) => LoosePrimitive(p ? 1.0 : 0.0, y),
        (_, bool q) => LoosePrimitive(x, q ? 1.0 : 0.0),
        (string p, double q) => ToNumber(p) == q,
        (double p, string q) => p == ToNumber(q),
        _ => false,
    };

    /// <summary>JavaScript's <c>===</c> on the underlying values (list membership, <c>unique</c>, the <c>eq</c> test).</summary>
    public static bool Strict(JinjaValue a, JinjaValue b)
    {
        if (a is UndefinedValue || b is UndefinedValue || a is NoneValue || b is NoneValue)
        {
            return a.GetType() == b.GetType();
        }

        var x = Primitive(a);
        var y = Primitive(b);
        return x is null || y is null ? x is null && y is null && SameReference(a, b) : x.Equals(y) && !(x is double d && double.IsNaN(d));
    }

    private static object? Primitive(JinjaValue value) => value switch
    {
        IntegerValue n => (double)n.Value,
        FloatValue f => f.Value,
        StringValue s => s.Value,
        BooleanValue b => b.Value,
        _ => null,
    };

    private static bool SameReference(JinjaValue a, JinjaValue b) => (a, b) switch
    {
        (ArrayValue p, ArrayValue q) => ReferenceEquals(p.Items, q.Items),
        (ObjectValue p, ObjectValue q) => ReferenceEquals(p.Entries, q.Entries),
        _ => ReferenceEquals(a, b),
    };

    /// <summary>JavaScript's <c>String(value)</c> of the underlying value (<c>~</c>, string <c>+</c>, <c>join</c>).</summary>
    public static string ToJsString(JinjaValue value) => value switch
    {
        UndefinedValue or NoneValue => "",
        IntegerValue n => n.Value.ToString(CultureInfo.InvariantCulture),
        FloatValue f => double.IsNaN(f.Value) ? "NaN" : double.IsInfinity(f.Value) ? (f.Value > 0 ? "Infinity" : "-Infinity") : JsonText.Number(f.Value),
        BooleanValue b => b.Value ? "true" : "false",
        StringValue s => s.Value,
        ArrayValue array => string.Join(",", array.Items.Select(item => item.ToString())),
        ObjectValue => "[object Map]",
        _ => "function",
    };

    private static double ToNumber(string text)
    {
        var trimmed = text.Trim();
        return trimmed.Length == 0 ? 0
            : double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n : double.NaN;
    }
}
