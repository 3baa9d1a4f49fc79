using System.Text;

namespace Serving.Workers.Templates;

/// <summary>
/// Evaluates a parsed template: a port of @huggingface/jinja's interpreter (statements, expressions, scoping, macros
/// with caller blocks), so every chat template renders exactly as transformers.js renders it. Filters, tests and the
/// methods of strings and mappings are in <c>JinjaInterpreter.Filters.cs</c>.
/// </summary>
internal sealed partial class JinjaInterpreter
{
    /// <summary>Bounds a template's own recursion (macros calling themselves), so a bad template fails cleanly.</summary>
    private const int MaxDepth = 200;

    private int _depth;

    public string Render(TemplateProgram program, JinjaScope scope) => Block(program.Body, scope);

    private string Block(List<JinjaNode> statements, JinjaScope scope)
    {
        var text = new StringBuilder();
        foreach (var statement in statements)
        {
            var value = Evaluate(statement, scope);
            if (value is not (NoneValue or UndefinedValue))
            {
                text.Append(value.ToString());
            }
        }

        return text.ToString();
    }

    private JinjaValue Evaluate(JinjaNode? node, JinjaScope scope) => node switch
    {
        null => JinjaValue.Undefined,
        StringLiteral s => new StringValue(s.Value),
        IntegerLiteral n => new IntegerValue(n.Value),
        FloatLiteral f => new FloatValue(f.Value),
        ArrayLiteral a => new ArrayValue(a.Items.Select(item => Evaluate(item, scope)).ToList()),
        TupleLiteral t => new ArrayValue(t.Items.Select(item => Evaluate(item, scope)).ToList(), isTuple: true),
        ObjectLiteral o => EvaluateObject(o, scope),
        Identifier id => scope.Lookup(id.Name),
        CallExpression call => EvaluateCall(call, scope),
        MemberExpression member => EvaluateMember(member, scope),
        UnaryExpression unary => EvaluateUnary(unary, scope),
        BinaryExpression binary => EvaluateBinary(binary, scope),
        FilterExpression filter => ApplyFilter(Evaluate(filter.Operand, scope), filter.Filter, scope),
        FilterBlock block => ApplyFilter(new StringValue(Block(block.Body, scope)), block.Filter, scope),
        TestExpression test => JinjaValue.From(RunTest(test.Test, [Evaluate(test.Operand, scope)]) != test.Negate),
        SelectExpression select => Evaluate(select.Test, scope).IsTrue ? Evaluate(select.Value, scope) : JinjaValue.Undefined,
        Ternary ternary => Evaluate(ternary.Condition, scope).IsTrue ? Evaluate(ternary.WhenTrue, scope) : Evaluate(ternary.WhenFalse, scope),
        IfStatement ifStatement => new StringValue(Block(Evaluate(ifStatement.Test, scope).IsTrue ? ifStatement.Body : ifStatement.Alternate, scope)),
        ForStatement forStatement => EvaluateFor(forStatement, scope),
        SetStatement set => EvaluateSet(set, scope),
        MacroStatement macro => DefineMacro(macro, scope),
        CallBlock callBlock => EvaluateCallBlock(callBlock, scope),
        BreakStatement => throw new LoopBreak(),
        ContinueStatement => throw new LoopContinue(),
        CommentStatement => JinjaValue.None,
        TemplateProgram program => new StringValue(Block(program.Body, scope)),
        _ => throw new JinjaException($"Unknown node type: {node.GetType().Name}"),
    };

    private ObjectValue EvaluateObject(ObjectLiteral literal, JinjaScope scope)
    {
        var entries = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in literal.Entries)
        {
            var key = Evaluate(keyNode, scope) as StringValue
                ?? throw new JinjaException("Object keys must be strings");
            entries[key.Value] = Evaluate(valueNode, scope);
        }

        return new ObjectValue(entries);
    }

    private (List<JinjaValue> Positional, OrderedDictionary<string, JinjaValue> Keywords) EvaluateArguments(List<JinjaNode> arguments, JinjaScope scope)
    {
        var positional = new List<JinjaValue>();
        var keywords = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        void AddKeyword(string key, JinjaValue value)
        {
            if (!keywords.TryAdd(key, value))
            {
                throw new JinjaException($"Got multiple values for keyword argument '{key}'");
            }
        }

        foreach (var argument in arguments)
        {
            if (argument is SpreadArgument spread)
            {
                positional.AddRange(Evaluate(spread.Argument, scope) is ArrayValue items ? items.Items
                    : throw new JinjaException("Cannot unpack non-iterable type"));
            }
            else if (argument is not (KeywordArgument or KeywordSpreadArgument))
            {
                positional.Add(Evaluate(argument, scope));
            }
        }

        foreach (var argument in arguments)
        {
            if (argument is KeywordArgument keyword)
            {
                AddKeyword(keyword.Key.Name, Evaluate(keyword.Value, scope));
            }
            else if (argument is KeywordSpreadArgument keywordSpread)
            {
                var mapping = Evaluate(keywordSpread.Argument, scope) as ObjectValue is { IsMapping: true } m ? m
                    : throw new JinjaException("Argument after ** must be a mapping");
                foreach (var (key, value) in mapping.Entries)
                {
                    AddKeyword(key, value);
                }
            }
        }

        return (positional, keywords);
    }

    private JinjaValue EvaluateCall(CallExpression call, JinjaScope scope)
    {
        var (arguments, keywords) = EvaluateArguments(call.Arguments, scope);
        if (keywords.Count > 0)
        {
            arguments.Add(new ObjectValue(keywords, ObjectKind.KeywordArguments));
        }

        var function = Evaluate(call.Callee, scope) as FunctionValue
            ?? throw new JinjaException("Cannot call something that is not a function");
        return Invoke(function, arguments, scope);
    }

    private JinjaValue Invoke(FunctionValue function, List<JinjaValue> arguments, JinjaScope scope)
    {
        if (++_depth > MaxDepth)
        {
            throw new JinjaException($"template calls nested deeper than {MaxDepth}");
        }

        try
        {
            return function.Invoke(arguments, scope);
        }
        finally
        {
            _depth--;
        }
    }

    private JinjaValue EvaluateMember(MemberExpression member, JinjaScope scope)
    {
        var target = Evaluate(member.Target, scope);
        JinjaValue property;
        if (member.Computed)
        {
            if (member.Property is SliceExpression slice)
            {
                return EvaluateSlice(target, slice, scope);
            }

            property = Evaluate(member.Property, scope);
        }
        else
        {
            property = member.Property is IntegerLiteral index ? new IntegerValue(index.Value) : new StringValue(((Identifier)member.Property).Name);
        }

        switch (target)
        {
            case ObjectValue mapping:
                var key = property as StringValue ?? throw new JinjaException($"Cannot access property with non-string: got {property.TypeName}");
                return mapping.Entries.TryGetValue(key.Value, out var value) ? value
                    : mapping.IsMapping ? Builtin(mapping, key.Value) : JinjaValue.Undefined;
            case ArrayValue or StringValue:
                return property switch
                {
                    IntegerValue i when target is ArrayValue array => At(array.Items, i.Value) ?? JinjaValue.Undefined,
                    IntegerValue i => CharAt(((StringValue)target).Value, i.Value),
                    StringValue name => Builtin(target, name.Value),
                    _ => throw new JinjaException($"Cannot access property with non-string/non-number: got {property.TypeName}"),
                };
            default:
                return property is StringValue ? JinjaValue.Undefined
                    : throw new JinjaException($"Cannot access property with non-string: got {property.TypeName}");
        }
    }

    private static JinjaValue CharAt(string text, long index)
    {
        var i = index < 0 ? text.Length + index : index;
        return i >= 0 && i < text.Length ? new StringValue(text[(int)i].ToString()) : JinjaValue.Undefined;
    }

    /// <summary>JavaScript's <c>Array.prototype.at</c>: negative indices count from the end.</summary>
    private static T? At<T>(IReadOnlyList<T> items, long index)
    {
        var i = index < 0 ? items.Count + index : index;
        return i >= 0 && i < items.Count ? items[(int)i] : default;
    }

    private JinjaValue EvaluateSlice(JinjaValue target, SliceExpression slice, JinjaScope scope)
    {
        long? Part(JinjaNode? node, string name) => Evaluate(node, scope) switch
        {
            IntegerValue n => n.Value,
            UndefinedValue => null,
            _ => throw new JinjaException($"Slice {name} must be numeric or undefined"),
        };

        if (target is not (ArrayValue or StringValue))
        {
            throw new JinjaException("Slice object must be an array or string");
        }

        var start = Part(slice.Start, "start");
        var stop = Part(slice.Stop, "stop");
        var step = Part(slice.Step, "step") ?? 1;
        if (target is ArrayValue array)
        {
            return new ArrayValue(Slice(array.Items, start, stop, step));
        }

        var codePoints = CodePoints(((StringValue)target).Value);
        return new StringValue(string.Concat(Slice(codePoints, start, stop, step)));
    }

    /// <summary>Python's slice semantics as the reference implements them.</summary>
    private static List<T> Slice<T>(IReadOnlyList<T> items, long? start, long? stop, long step)
    {
        if (step == 0)
        {
            throw new JinjaException("slice step cannot be zero");
        }

        long n = items.Count;
        long from, to;
        if (step > 0)
        {
            from = start is { } s ? s < 0 ? Math.Max(n + s, 0) : Math.Min(s, n) : 0;
            to = stop is { } e ? e < 0 ? Math.Max(n + e, 0) : Math.Min(e, n) : n;
        }
        else
        {
            from = start is { } s ? s < 0 ? Math.Max(n + s, -1) : Math.Min(s, n - 1) : n - 1;
            to = stop is { } e ? e < -1 ? Math.Max(n + e, -1) : Math.Min(e, n - 1) : -1;
        }

        var result = new List<T>();
        for (var i = from; step > 0 ? i < to : i > to; i += step)
        {
            result.Add(items[(int)i]);
        }

        return result;
    }

    /// <summary>A string as JavaScript's <c>Array.from</c> splits it: by code point, surrogate pairs kept together.</summary>
    internal static List<string> CodePoints(string text)
    {
        var points = new List<string>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var pair = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            points.Add(pair ? text.Substring(i++, 2) : text[i].ToString());
        }

        return points;
    }

    private JinjaValue EvaluateSet(SetStatement set, JinjaScope scope)
    {
        var value = set.Value is not null ? Evaluate(set.Value, scope) : new StringValue(Block(set.Body, scope));
        switch (set.Assignee)
        {
            case Identifier id:
                scope.Set(id.Name, value);
                break;
            case TupleLiteral tuple:
                var items = value as ArrayValue ?? throw new JinjaException($"Cannot unpack non-iterable type in set: {value.TypeName}");
                if (items.Items.Count != tuple.Items.Count)
                {
                    throw new JinjaException($"Too {(tuple.Items.Count > items.Items.Count ? "few" : "many")} items to unpack in set");
                }

                for (var i = 0; i < tuple.Items.Count; i++)
                {
                    var name = tuple.Items[i] as Identifier ?? throw new JinjaException("Cannot unpack to non-identifier in set");
                    scope.Set(name.Name, items.Items[i]);
                }

                break;
            case MemberExpression { Property: Identifier property } member:
                var target = Evaluate(member.Target, scope) as ObjectValue is { Kind: ObjectKind.Namespace } ns ? ns
                    : throw new JinjaException("cannot assign attribute on non-namespace object");
                target.Entries[property.Name] = value;
                break;
            default:
                throw new JinjaException("Invalid LHS inside assignment expression");
        }

        return JinjaValue.None;
    }

    private JinjaValue EvaluateFor(ForStatement loop, JinjaScope outer)
    {
        var scope = new JinjaScope(outer);
        JinjaNode? test = null;
        JinjaValue iterable;
        if (loop.Iterable is SelectExpression select)
        {
            iterable = Evaluate(select.Value, scope);
            test = select.Test;
        }
        else
        {
            iterable = Evaluate(loop.Iterable, scope);
        }

        var source = iterable switch
        {
            ArrayValue array => array.Items,
            ObjectValue { IsMapping: true } mapping => mapping.Entries.Keys.Select(JinjaValue.From).ToList(),
            _ => throw new JinjaException($"Expected iterable or object type in for loop: got {iterable.TypeName}"),
        };

        var items = new List<JinjaValue>();
        foreach (var current in source)
        {
            if (test is not null)
            {
                var loopScope = new JinjaScope(scope);
                BindLoopVariable(loop.LoopVariable, current, loopScope);
                if (!Evaluate(test, loopScope).IsTrue)
                {
                    continue;
                }
            }

            items.Add(current);
        }

        var text = new StringBuilder();
        var iterated = false;
        for (var i = 0; i < items.Count; i++)
        {
            scope.Set("loop", LoopObject(items, i));
            BindLoopVariable(loop.LoopVariable, items[i], scope);
            try
            {
                text.Append(Block(loop.Body, scope));
            }
            catch (LoopContinue)
            {
                continue;
            }
            catch (LoopBreak)
            {
                break;
            }

            iterated = true;
        }

        if (!iterated)
        {
            text.Append(Block(loop.Else, scope));
        }

        return new StringValue(text.ToString());
    }

    private static ObjectValue LoopObject(List<JinjaValue> items, int i) => new(new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal)
    {
        ["index"] = new IntegerValue(i + 1),
        ["index0"] = new IntegerValue(i),
        ["revindex"] = new IntegerValue(items.Count - i),
        ["revindex0"] = new IntegerValue(items.Count - i - 1),
        ["first"] = JinjaValue.From(i == 0),
        ["last"] = JinjaValue.From(i == items.Count - 1),
        ["length"] = new IntegerValue(items.Count),
        ["previtem"] = i > 0 ? items[i - 1] : JinjaValue.Undefined,
        ["nextitem"] = i < items.Count - 1 ? items[i + 1] : JinjaValue.Undefined,
    });

    private static void BindLoopVariable(JinjaNode variable, JinjaValue current, JinjaScope scope)
    {
        if (variable is Identifier id)
        {
            scope.Set(id.Name, current);
            return;
        }

        var names = ((TupleLiteral)variable).Items;
        var values = current as ArrayValue ?? throw new JinjaException($"Cannot unpack non-iterable type: {current.TypeName}");
        if (names.Count != values.Items.Count)
        {
            throw new JinjaException($"Too {(names.Count > values.Items.Count ? "few" : "many")} items to unpack");
        }

        for (var j = 0; j < names.Count; j++)
        {
            var name = names[j] as Identifier ?? throw new JinjaException("Cannot unpack non-identifier type");
            scope.Set(name.Name, values.Items[j]);
        }
    }

    private sealed class LoopBreak : Exception;

    private sealed class LoopContinue : Exception;
}
