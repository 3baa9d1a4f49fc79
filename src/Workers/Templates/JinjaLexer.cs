using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Serving.Workers.Templates;

internal enum JinjaTokenKind
{
    Text, NumericLiteral, StringLiteral, Identifier, Equals, OpenParen, CloseParen, OpenStatement, CloseStatement,
    OpenExpression, CloseExpression, OpenSquareBracket, CloseSquareBracket, OpenCurlyBracket, CloseCurlyBracket,
    Comma, Dot, Colon, Pipe, AdditiveOperator, MultiplicativeOperator, PowerOperator, ComparisonOperator,
    UnaryOperator, Comment,
}

internal sealed record JinjaToken(string Value, JinjaTokenKind Kind)
{
    public string Value { get; set; } = Value;
}

/// <summary>
/// Splits a chat template into tokens. A port of @huggingface/jinja's lexer (the renderer transformers.js uses and our
/// conformance test compares against), including its quirks, so a template means the same thing in both: templates
/// are preprocessed with <c>trim_blocks</c> and <c>lstrip_blocks</c> as transformers does, <c>{% generation %}</c>
/// markers are dropped, and a sign directly before digits after an operator is part of the number.
/// </summary>
internal static partial class JinjaLexer
{
    private static readonly (string Text, JinjaTokenKind Kind)[] Symbols =
    [
        ("{%", JinjaTokenKind.OpenStatement), ("%}", JinjaTokenKind.CloseStatement),
        ("{{", JinjaTokenKind.OpenExpression), ("}}", JinjaTokenKind.CloseExpression),
        ("(", JinjaTokenKind.OpenParen), (")", JinjaTokenKind.CloseParen),
        ("{", JinjaTokenKind.OpenCurlyBracket), ("}", JinjaTokenKind.CloseCurlyBracket),
        ("[", JinjaTokenKind.OpenSquareBracket), ("]", JinjaTokenKind.CloseSquareBracket),
        (",", JinjaTokenKind.Comma), (".", JinjaTokenKind.Dot), (":", JinjaTokenKind.Colon), ("|", JinjaTokenKind.Pipe),
        ("<=", JinjaTokenKind.ComparisonOperator), (">=", JinjaTokenKind.ComparisonOperator),
        ("==", JinjaTokenKind.ComparisonOperator), ("!=", JinjaTokenKind.ComparisonOperator),
        ("<", JinjaTokenKind.ComparisonOperator), (">", JinjaTokenKind.ComparisonOperator),
        ("+", JinjaTokenKind.AdditiveOperator), ("-", JinjaTokenKind.AdditiveOperator), ("~", JinjaTokenKind.AdditiveOperator),
        ("**", JinjaTokenKind.PowerOperator), ("*", JinjaTokenKind.MultiplicativeOperator),
        ("//", JinjaTokenKind.MultiplicativeOperator), ("/", JinjaTokenKind.MultiplicativeOperator),
        ("%", JinjaTokenKind.MultiplicativeOperator), ("=", JinjaTokenKind.Equals),
    ];

    public static List<JinjaToken> Tokenize(string source)
    {
        var src = Preprocess(source);
        var tokens = new List<JinjaToken>();
        var position = 0;
        var curlyDepth = 0;

        char At(int i) => i < src.Length ? src[i] : '\0';
        bool StartsWith(string s) => src.AsSpan(position).StartsWith(s, StringComparison.Ordinal);
        JinjaTokenKind? LastKind() => tokens.Count == 0 ? null : tokens[^1].Kind;

        string ConsumeWhile(Func<char, bool> predicate)
        {
            var text = new StringBuilder();
            while (position < src.Length && predicate(src[position]))
            {
                if (src[position] == '\\')
                {
                    position++;
                    if (position >= src.Length)
                    {
                        throw new JinjaException("Unexpected end of input");
                    }

                    var escaped = src[position++];
                    if (escaped is 'x' or 'u')
                    {
                        var length = escaped == 'x' ? 2 : 4;
                        var hex = src.Substring(position, Math.Min(length, src.Length - position));
                        if (hex.Length != length || !hex.All(char.IsAsciiHexDigit))
                        {
                            throw new JinjaException($"Invalid hexadecimal escape sequence: \\{escaped}{hex}");
                        }

                        text.Append((char)int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        position += length;
                        continue;
                    }

                    text.Append(escaped switch
                    {
                        'n' => '\n', 't' => '\t', 'r' => '\r', 'b' => '\b', 'f' => '\f', 'v' => '\v',
                        '\'' => '\'', '"' => '"', '\\' => '\\',
                        _ => throw new JinjaException($"Unexpected escaped character: {escaped}"),
                    });
                    continue;
                }

                text.Append(src[position++]);
                if (position >= src.Length)
                {
                    throw new JinjaException("Unexpected end of input");
                }
            }

            return text.ToString();
        }

        void StripTrailingWhitespace()
        {
            if (tokens.Count > 0 && tokens[^1].Kind == JinjaTokenKind.Text)
            {
                tokens[^1].Value = JsText.Trim(tokens[^1].Value, start: false, end: true);
                if (tokens[^1].Value.Length == 0)
                {
                    tokens.RemoveAt(tokens.Count - 1);
                }
            }
        }

        void SkipLeadingWhitespace()
        {
            while (position < src.Length && IsWhitespace(src[position]))
            {
                position++;
            }
        }

        while (position < src.Length)
        {
            if (LastKind() is null or JinjaTokenKind.CloseStatement or JinjaTokenKind.CloseExpression or JinjaTokenKind.Comment)
            {
                var start = position;
                while (position < src.Length && !(src[position] == '{' && At(position + 1) is '%' or '{' or '#'))
                {
                    position++;
                }

                if (position > start)
                {
                    tokens.Add(new JinjaToken(src[start..position], JinjaTokenKind.Text));
                    continue;
                }
            }

            if (src[position] == '{' && At(position + 1) == '#')
            {
                position += 2;
                var stripBefore = At(position) == '-';
                if (stripBefore)
                {
                    position++;
                }

                var start = position;
                while (At(position) != '#' || At(position + 1) != '}')
                {
                    if (position + 2 >= src.Length)
                    {
                        throw new JinjaException("Missing end of comment tag");
                    }

                    position++;
                }

                var comment = src[start..position];
                var stripAfter = comment.EndsWith('-');
                if (stripAfter)
                {
                    comment = comment[..^1];
                }

                if (stripBefore)
                {
                    StripTrailingWhitespace();
                }

                tokens.Add(new JinjaToken(comment, JinjaTokenKind.Comment));
                position += 2;
                if (stripAfter)
                {
                    SkipLeadingWhitespace();
                }

                continue;
            }

            if (StartsWith("{%-"))
            {
                StripTrailingWhitespace();
                tokens.Add(new JinjaToken("{%", JinjaTokenKind.OpenStatement));
                position += 3;
                continue;
            }

            if (StartsWith("{{-"))
            {
                StripTrailingWhitespace();
                tokens.Add(new JinjaToken("{{", JinjaTokenKind.OpenExpression));
                curlyDepth = 0;
                position += 3;
                continue;
            }

            ConsumeWhile(IsWhitespace);
            if (StartsWith("-%}"))
            {
                tokens.Add(new JinjaToken("%}", JinjaTokenKind.CloseStatement));
                position += 3;
                SkipLeadingWhitespace();
                continue;
            }

            if (StartsWith("-}}"))
            {
                tokens.Add(new JinjaToken("}}", JinjaTokenKind.CloseExpression));
                position += 3;
                SkipLeadingWhitespace();
                continue;
            }

            if (position >= src.Length)
            {
                throw new JinjaException("Unexpected end of input");
            }

            var ch = src[position];
            if (ch is '-' or '+')
            {
                var last = LastKind();
                if (last is null or JinjaTokenKind.Text)
                {
                    throw new JinjaException($"Unexpected character: {ch}");
                }

                if (last is not (JinjaTokenKind.Identifier or JinjaTokenKind.NumericLiteral or JinjaTokenKind.StringLiteral
                    or JinjaTokenKind.CloseParen or JinjaTokenKind.CloseSquareBracket))
                {
                    position++;
                    var number = ConsumeWhile(IsDigit);
                    if (number.Length > 0 && At(position) == '.' && IsDigit(At(position + 1)))
                    {
                        position++;
                        number = $"{number}.{ConsumeWhile(IsDigit)}";
                    }

                    tokens.Add(new JinjaToken(ch + number, number.Length > 0 ? JinjaTokenKind.NumericLiteral : JinjaTokenKind.UnaryOperator));
                    continue;
                }
            }

            var matched = false;
            foreach (var (text, kind) in Symbols)
            {
                if (text == "}}" && curlyDepth > 0)
                {
                    continue;
                }

                if (StartsWith(text))
                {
                    tokens.Add(new JinjaToken(text, kind));
                    curlyDepth = kind switch
                    {
                        JinjaTokenKind.OpenExpression => 0,
                        JinjaTokenKind.OpenCurlyBracket => curlyDepth + 1,
                        JinjaTokenKind.CloseCurlyBracket => curlyDepth - 1,
                        _ => curlyDepth,
                    };
                    position += text.Length;
                    matched = true;
                    break;
                }
            }

            if (matched)
            {
                continue;
            }

            if (ch is '\'' or '"')
            {
                position++;
                var text = ConsumeWhile(c => c != ch);
                tokens.Add(new JinjaToken(text, JinjaTokenKind.StringLiteral));
                position++;
                continue;
            }

            if (IsDigit(ch))
            {
                var number = ConsumeWhile(IsDigit);
                if (LastKind() != JinjaTokenKind.Dot && At(position) == '.' && IsDigit(At(position + 1)))
                {
                    position++;
                    number = $"{number}.{ConsumeWhile(IsDigit)}";
                }

                tokens.Add(new JinjaToken(number, JinjaTokenKind.NumericLiteral));
                continue;
            }

            if (IsWord(ch))
            {
                tokens.Add(new JinjaToken(ConsumeWhile(IsWord), JinjaTokenKind.Identifier));
                continue;
            }

            throw new JinjaException($"Unexpected character: {ch}");
        }

        return tokens;
    }

    private static bool IsWhitespace(char c) => JsText.IsWhitespace(c);

    /// <summary>JavaScript's <c>\w</c> (ASCII only, unlike .NET's).</summary>
    internal static bool IsWord(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static bool IsDigit(char c) => c is >= '0' and <= '9';

    private static string Preprocess(string template)
    {
        if (template.EndsWith('\n'))
        {
            template = template[..^1];
        }

        template = LstripBlocks().Replace(template, "$1");
        template = TrimBlocks().Replace(template, "$1");
        return GenerationTags().Replace(template, m =>
            (m.Groups[2].Length > 0 ? "" : m.Groups[1].Value) + (m.Groups[3].Length > 0 ? "" : m.Groups[4].Value));
    }

    // JavaScript's multiline ^ also matches after \r; templates with CRLF line ends are rare enough to ignore.
    [GeneratedRegex(@"^[ \t]*(\{[#%-])", RegexOptions.Multiline)]
    private static partial Regex LstripBlocks();

    [GeneratedRegex(@"([#%-]\})\n")]
    private static partial Regex TrimBlocks();

    [GeneratedRegex(@"(\s*)\{%(-?)\s*(?:end)?generation\s*(-?)%\}(\s*)", RegexOptions.Singleline)]
    private static partial Regex GenerationTags();
}

/// <summary>A template that cannot be parsed or rendered, or one that called <c>raise_exception</c>.</summary>
public sealed class JinjaException(string message) : Exception(message);
