namespace Serving.Workers.Templates;

/// <summary>
/// Builds the syntax tree from tokens: a port of @huggingface/jinja's recursive-descent parser. This file reads
/// statements; <c>JinjaParser.Expressions.cs</c> reads expressions.
/// </summary>
internal sealed partial class JinjaParser(List<JinjaToken> tokens)
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
}
