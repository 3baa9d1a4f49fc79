using System.Globalization;

namespace Serving.Workers.Templates;

/// <summary>
/// Expressions, with the reference's operator precedence (from loosest: ternary, or, and, not, comparison and in,
/// + - ~, * / // %, **, is-tests, filters, unary sign, member access and calls).
/// </summary>
internal sealed partial class JinjaParser
{
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
