namespace Serving.Workers.Templates;

/// <summary>
/// A parsed Jinja chat template. Parse once (when the model loads), render per request; rendering is thread-safe
/// (each render has its own scopes and interpreter).
/// </summary>
public sealed class JinjaTemplate
{
    private readonly TemplateProgram _program;
    private readonly TimeProvider _clock;

    private JinjaTemplate(TemplateProgram program, TimeProvider clock)
    {
        _program = program;
        _clock = clock;
    }

    /// <summary>Parses a template; a syntax error is a <see cref="JinjaException"/>.</summary>
    public static JinjaTemplate Parse(string source, TimeProvider? clock = null)
    {
        try
        {
            return new JinjaTemplate(JinjaParser.Parse(JinjaLexer.Tokenize(source)), clock ?? TimeProvider.System);
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidCastException or ArgumentException)
        {
            throw new JinjaException($"template syntax: {e.Message}");
        }
    }

    /// <summary>Renders with the given variables on top of the globals (<c>range</c>, <c>namespace</c>, ...).</summary>
    public string Render(IReadOnlyDictionary<string, JinjaValue> variables)
    {
        var scope = new JinjaScope(JinjaScope.Globals(_clock));
        foreach (var (name, value) in variables)
        {
            scope.Set(name, value);
        }

        try
        {
            return new JinjaInterpreter().Render(_program, scope);
        }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or IndexOutOfRangeException or OverflowException or InvalidOperationException)
        {
            throw new JinjaException($"template error: {e.Message}");
        }
    }
}
