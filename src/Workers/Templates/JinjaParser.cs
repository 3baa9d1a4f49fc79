using System.Globalization;

namespace Serving.Workers.Templates;

/// <summary>
/// Builds the syntax tree from tokens: a port of @huggingface/jinja's recursive-descent parser, with its operator
/// precedence (from loosest: ternary, or, and, not, comparison and in, + - ~, * / // %, **, is-tests, filters, unary
/// sign, member access and calls).
/// </summary>
internal sealed class JinjaParser(List<JinjaToken> tokens)
{
    private int _current;

    public static TemplateProgram Parse(List<JinjaToken> tokens)
    {
        var parser = new JinjaParser(tokens);
        var body = new List<JinjaNode>();
        while (parser._current < tokens.Count)
        {
            body.Add(parser.ParseAny());
        }

        return new TemplateProgram(body);
    }

    private JinjaToken Expect(JinjaTokenKind kind, string error)
    {
        if (_current >= tokens.Count || tokens[_current].Kind != kind)
        {
            throw new JinjaException($"Parser Error: {error}. {(_current < tokens.Count ? tokens[_current].Kind : "end")} !== {kind}.");
        }

        return tokens[_current++];
    }

    private void ExpectIdentifier(string name)
    {
        if (!IsIdentifier(name))
        {
            throw new JinjaException($"Expected {name}");
        }

        _current++;
    }

    private bool Is(JinjaTokenKind kind) => _current < tokens.Count && tokens[_current].Kind == kind;

    private bool IsIdentifier(params string[] names)
    {
        if (_current + names.Length > tokens.Count)
        {
            return false;
        }

        for (var i = 0; i < names.Length; i++)
        {
            if (tokens[_current + i].Kind != JinjaTokenKind.Identifier || tokens[_current + i].Value != names[i])
            {
                return false;
            }
        }

        return true;
    }

    private bool IsStatement(params string[] names) =>
        _current + 1 < tokens.Count && tokens[_current].Kind == JinjaTokenKind.OpenStatement
        && tokens[_current + 1].Kind == JinjaTokenKind.Identifier && names.Contains(tokens[_current + 1].Value);

    private JinjaToken Current => _current < tokens.Count ? tokens[_current] : throw new JinjaException("Unexpected end of template");

    private JinjaNode ParseAny() => Current.Kind switch
    {
        JinjaTokenKind.Comment => Advance(new CommentStatement()),
        JinjaTokenKind.Text => new StringLiteral(Expect(JinjaTokenKind.Text, "Expected text token").Value),
        JinjaTokenKind.OpenStatement => ParseStatement(),
        JinjaTokenKind.OpenExpression => ParseOutput(),
        var kind => throw new JinjaException($"Unexpected token type: {kind}"),
    };

    private JinjaNode Advance(JinjaNode node)
    {
        _current++;
        return node;
    }

    private List<JinjaNode> ParseUntil(params string[] statements)
    {
        var body = new List<JinjaNode>();
        while (!IsStatement(statements))
        {
            body.Add(ParseAny());
        }

        return body;
    }

    private void ExpectEnd(string name)
    {
        Expect(JinjaTokenKind.OpenStatement, "Expected {% token");
        ExpectIdentifier(name);
        Expect(JinjaTokenKind.CloseStatement, "Expected %} token");
    }

    private JinjaNode ParseStatement()
    {
        Expect(JinjaTokenKind.OpenStatement, "Expected opening statement token");
        if (Current.Kind != JinjaTokenKind.Identifier)
        {
            throw new JinjaException($"Unknown statement, got {Current.Kind}");
        }

        var name = tokens[_current++].Value;
        switch (name)
        {
            case "set":
                return ParseSet();
            case "if":
            {
                var result = ParseIf();
                ExpectEnd("endif");
                return result;
            }
            case "macro":
            {
                var macroName = ParsePrimary() as Identifier ?? throw new JinjaException("Expected identifier following macro statement");
                var parameters = ParseArguments(parameters: true);
                Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
                var body = ParseUntil("endmacro");
                ExpectEnd("endmacro");
                return new MacroStatement(macroName.Name, parameters, body);
            }
            case "for":
            {
                var result = ParseFor();
                ExpectEnd("endfor");
                return result;
            }
            case "call":
            {
                List<JinjaNode>? callerParameters = Is(JinjaTokenKind.OpenParen) ? ParseArguments(parameters: true) : null;
                var callee = ParsePrimary() as Identifier ?? throw new JinjaException("Expected identifier following call statement");
                var arguments = ParseArguments(parameters: false);
                Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
                var body = ParseUntil("endcall");
                ExpectEnd("endcall");
                return new CallBlock(new CallExpression(callee, arguments), callerParameters, body);
            }
            case "break":
                Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
                return new BreakStatement();
            case "continue":
                Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
                return new ContinueStatement();
            case "filter":
            {
                var filter = ParsePrimary();
                if (filter is Identifier && Is(JinjaTokenKind.OpenParen))
                {
                    filter = ParseCall(filter);
                }

                Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
                var body = ParseUntil("endfilter");
                ExpectEnd("endfilter");
                return new FilterBlock(filter, body);
            }
            default:
                throw new JinjaException($"Unknown statement type: {name}");
        }
    }

    private JinjaNode ParseOutput()
    {
        Expect(JinjaTokenKind.OpenExpression, "Expected opening expression token");
        var result = ParseExpression();
        Expect(JinjaTokenKind.CloseExpression, "Expected closing expression token");
        return result;
    }

    private JinjaNode ParseSet()
    {
        var left = ParseExpressionSequence();
        JinjaNode? value = null;
        var body = new List<JinjaNode>();
        if (Is(JinjaTokenKind.Equals))
        {
            _current++;
            value = ParseExpressionSequence();
        }
        else
        {
            Expect(JinjaTokenKind.CloseStatement, "Expected %} token");
            body = ParseUntil("endset");
            Expect(JinjaTokenKind.OpenStatement, "Expected {% token");
            ExpectIdentifier("endset");
        }

        Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
        return new SetStatement(left, value, body);
    }

    private IfStatement ParseIf()
    {
        var test = ParseExpression();
        Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
        var body = ParseUntil("elif", "else", "endif");
        var alternate = new List<JinjaNode>();
        if (IsStatement("elif"))
        {
            _current += 2;
            alternate.Add(ParseIf());
        }
        else if (IsStatement("else"))
        {
            _current += 2;
            Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
            alternate = ParseUntil("endif");
        }

        return new IfStatement(test, body, alternate);
    }

    private ForStatement ParseFor()
    {
        var loopVariable = ParseExpressionSequence(primary: true);
        if (loopVariable is not (Identifier or TupleLiteral))
        {
            throw new JinjaException($"Expected identifier/tuple for the loop variable, got {loopVariable.GetType().Name} instead");
        }

        if (!IsIdentifier("in"))
        {
            throw new JinjaException("Expected `in` keyword following loop variable");
        }

        _current++;
        var iterable = ParseExpression();
        Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
        var body = ParseUntil("endfor", "else");
        var alternative = new List<JinjaNode>();
        if (IsStatement("else"))
        {
            _current += 2;
            Expect(JinjaTokenKind.CloseStatement, "Expected closing statement token");
            alternative = ParseUntil("endfor");
        }

        return new ForStatement(loopVariable, iterable, body, alternative);
    }

    private JinjaNode ParseExpressionSequence(bool primary = false)
    {
        var expressions = new List<JinjaNode> { primary ? ParsePrimary() : ParseExpression() };
        var isTuple = Is(JinjaTokenKind.Comma);
        while (isTuple)
        {
            _current++;
            expressions.Add(primary ? ParsePrimary() : ParseExpression());
            if (!Is(JinjaTokenKind.Comma))
            {
                break;
            }
        }

        return isTuple ? new TupleLiteral(expressions) : expressions[0];
    }

    private JinjaNode ParseExpression()
    {
        var value = ParseOr();
        if (!IsIdentifier("if"))
        {
            return value;
        }

        _current++;
        var test = ParseOr();
        if (IsIdentifier("else"))
        {
            _current++;
            return new Ternary(test, value, ParseExpression());
        }

        return new SelectExpression(value, test);
    }

    private JinjaNode ParseOr() => ParseLeftAssociative(ParseAnd, () => IsIdentifier("or") ? "or" : null);

    private JinjaNode ParseAnd() => ParseLeftAssociative(ParseNot, () => IsIdentifier("and") ? "and" : null);

    private JinjaNode ParseNot()
    {
        UnaryExpression? result = null;
        while (IsIdentifier("not"))
        {
            _current++;
            result = new UnaryExpression("not", ParseNot());
        }

        return result ?? ParseComparison();
    }

    private JinjaNode ParseComparison()
    {
        var left = ParseAdditive();
        while (true)
        {
            string op;
            if (IsIdentifier("not", "in"))
            {
                op = "not in";
                _current += 2;
            }
            else if (IsIdentifier("in") || Is(JinjaTokenKind.ComparisonOperator))
            {
                op = tokens[_current++].Value;
            }
            else
            {
                return left;
            }

            left = new BinaryExpression(op, left, ParseAdditive());
        }
    }

    private JinjaNode ParseAdditive() =>
        ParseLeftAssociative(ParseMultiplicative, () => Is(JinjaTokenKind.AdditiveOperator) ? tokens[_current].Value : null);

    private JinjaNode ParseMultiplicative() =>
        ParseLeftAssociative(ParsePower, () => Is(JinjaTokenKind.MultiplicativeOperator) ? tokens[_current].Value : null);

    private JinjaNode ParsePower() =>
        ParseLeftAssociative(ParseTest, () => Is(JinjaTokenKind.PowerOperator) ? tokens[_current].Value : null);

    private JinjaNode ParseLeftAssociative(Func<JinjaNode> operand, Func<string?> nextOperator)
    {
        var left = operand();
        while (nextOperator() is { } op)
        {
            _current++;
            left = new BinaryExpression(op, left, operand());
        }

        return left;
    }

    private JinjaNode ParseTest()
    {
        var operand = ParseFilter();
        while (IsIdentifier("is"))
        {
            _current++;
            var negate = IsIdentifier("not");
            if (negate)
            {
                _current++;
            }

            var test = ParsePrimary() as Identifier ?? throw new JinjaException("Expected identifier for the test");
            operand = new TestExpression(operand, negate, test.Name);
        }

        return operand;
    }

    private JinjaNode ParseFilter()
    {
        var operand = ParseUnarySign();
        while (Is(JinjaTokenKind.Pipe))
        {
            _current++;
            JinjaNode filter = ParsePrimary() as Identifier ?? throw new JinjaException("Expected identifier for the filter");
            if (Is(JinjaTokenKind.OpenParen))
            {
                filter = ParseCall(filter);
            }

            operand = new FilterExpression(operand, filter);
        }

        return operand;
    }

    private JinjaNode ParseUnarySign()
    {
        if (_current < tokens.Count && tokens[_current].Kind is JinjaTokenKind.UnaryOperator or JinjaTokenKind.AdditiveOperator
            && tokens[_current].Value is "-" or "+")
        {
            var op = tokens[_current++].Value;
            return new UnaryExpression(op, ParseUnarySign());
        }

        var member = ParseMember(ParsePrimary());
        return Is(JinjaTokenKind.OpenParen) ? ParseCall(member) : member;
    }

    private JinjaNode ParseCall(JinjaNode callee)
    {
        JinjaNode expression = ParseMember(new CallExpression(callee, ParseArguments(parameters: false)));
        return Is(JinjaTokenKind.OpenParen) ? ParseCall(expression) : expression;
    }

    /// <summary>A call's arguments, or a macro's parameters (identifiers with optional defaults, no unpacking).</summary>
    private List<JinjaNode> ParseArguments(bool parameters)
    {
        Expect(JinjaTokenKind.OpenParen, "Expected opening parenthesis for arguments list");
        var arguments = new List<JinjaNode>();
        var names = new HashSet<string>();
        var sawKeyword = false;
        var sawSpread = false;
        while (!Is(JinjaTokenKind.CloseParen))
        {
            var keywordSpread = Is(JinjaTokenKind.PowerOperator);
            var positionalSpread = Is(JinjaTokenKind.MultiplicativeOperator) && tokens[_current].Value == "*";
            if (parameters && (keywordSpread || positionalSpread))
            {
                throw new JinjaException("Argument unpacking is not allowed in parameter declarations");
            }

            if (keywordSpread)
            {
                _current++;
                arguments.Add(new KeywordSpreadArgument(ParseExpression()));
                if (Is(JinjaTokenKind.Comma))
                {
                    _current++;
                }

                if (!Is(JinjaTokenKind.CloseParen))
                {
                    throw new JinjaException("Expected closing parenthesis: `**` must be applied to the final argument");
                }

                break;
            }

            JinjaNode argument;
            if (positionalSpread)
            {
                if (sawSpread)
                {
                    throw new JinjaException("Only one `*` argument unpacking is allowed");
                }

                sawSpread = true;
                _current++;
                argument = new SpreadArgument(ParseExpression());
            }
            else
            {
                argument = ParseExpression();
                if (Is(JinjaTokenKind.Equals))
                {
                    _current++;
                    var key = argument as Identifier ?? throw new JinjaException(parameters
                        ? "Expected identifier for parameter declaration" : "Expected identifier for keyword argument");
                    argument = new KeywordArgument(key, ParseExpression());
                }

                if (parameters)
                {
                    var name = argument switch
                    {
                        Identifier id => id.Name,
                        KeywordArgument keyword => keyword.Key.Name,
                        _ => throw new JinjaException("Expected identifier for parameter declaration"),
                    };
                    if (!names.Add(name))
                    {
                        throw new JinjaException($"Duplicate parameter name: {name}");
                    }
                }

                if (argument is KeywordArgument)
                {
                    sawKeyword = true;
                }
                else if (sawKeyword)
                {
                    throw new JinjaException(parameters ? "Non-default argument follows default argument"
                        : "Positional arguments must come before keyword arguments");
                }
                else if (sawSpread)
                {
                    throw new JinjaException("Positional arguments must not follow `*` argument unpacking");
                }
            }

            arguments.Add(argument);
            if (Is(JinjaTokenKind.Comma))
            {
                _current++;
            }
        }

        Expect(JinjaTokenKind.CloseParen, "Expected closing parenthesis for arguments list");
        return arguments;
    }

    private JinjaNode ParseMember(JinjaNode target)
    {
        while (Is(JinjaTokenKind.Dot) || Is(JinjaTokenKind.OpenSquareBracket))
        {
            var computed = tokens[_current++].Kind == JinjaTokenKind.OpenSquareBracket;
            JinjaNode property;
            if (computed)
            {
                property = ParseSubscript();
                Expect(JinjaTokenKind.CloseSquareBracket, "Expected closing square bracket");
            }
            else
            {
                property = ParsePrimary();
                if (property is not (Identifier or IntegerLiteral))
                {
                    throw new JinjaException("Expected identifier or integer following dot operator");
                }
            }

            target = new MemberExpression(target, property, computed);
        }

        return target;
    }

    /// <summary>What is inside <c>[...]</c>: one index expression, or a slice of up to three parts.</summary>
    private JinjaNode ParseSubscript()
    {
        var parts = new List<JinjaNode?>();
        var isSlice = false;
        while (!Is(JinjaTokenKind.CloseSquareBracket))
        {
            if (Is(JinjaTokenKind.Colon))
            {
                parts.Add(null);
                _current++;
                isSlice = true;
            }
            else
            {
                parts.Add(ParseExpression());
                if (Is(JinjaTokenKind.Colon))
                {
                    _current++;
                    isSlice = true;
                }
            }
        }

        if (parts.Count == 0)
        {
            throw new JinjaException("Expected at least one argument for member/slice expression");
        }

        if (!isSlice)
        {
            return parts[0]!;
        }

        if (parts.Count > 3)
        {
            throw new JinjaException("Expected 0-3 arguments for slice expression");
        }

        return new SliceExpression(parts[0], parts.Count > 1 ? parts[1] : null, parts.Count > 2 ? parts[2] : null);
    }

    private JinjaNode ParsePrimary()
    {
        var token = Current;
        _current++;
        switch (token.Kind)
        {
            case JinjaTokenKind.NumericLiteral:
                return token.Value.Contains('.')
                    ? new FloatLiteral(double.Parse(token.Value, CultureInfo.InvariantCulture))
                    : new IntegerLiteral(long.Parse(token.Value, CultureInfo.InvariantCulture));
            case JinjaTokenKind.StringLiteral:
            {
                var value = token.Value;
                while (Is(JinjaTokenKind.StringLiteral))
                {
                    value += tokens[_current++].Value;
                }

                return new StringLiteral(value);
            }
            case JinjaTokenKind.Identifier:
                return new Identifier(token.Value);
            case JinjaTokenKind.OpenParen:
            {
                var expression = ParseExpressionSequence();
                Expect(JinjaTokenKind.CloseParen, "Expected closing parenthesis");
                return expression;
            }
            case JinjaTokenKind.OpenSquareBracket:
            {
                var items = new List<JinjaNode>();
                while (!Is(JinjaTokenKind.CloseSquareBracket))
                {
                    items.Add(ParseExpression());
                    if (Is(JinjaTokenKind.Comma))
                    {
                        _current++;
                    }
                }

                _current++;
                return new ArrayLiteral(items);
            }
            case JinjaTokenKind.OpenCurlyBracket:
            {
                var entries = new List<(JinjaNode, JinjaNode)>();
                while (!Is(JinjaTokenKind.CloseCurlyBracket))
                {
                    var key = ParseExpression();
                    Expect(JinjaTokenKind.Colon, "Expected colon between key and value in object literal");
                    entries.Add((key, ParseExpression()));
                    if (Is(JinjaTokenKind.Comma))
                    {
                        _current++;
                    }
                }

                _current++;
                return new ObjectLiteral(entries);
            }
            default:
                throw new JinjaException($"Unexpected token: {token.Kind}");
        }
    }
}
