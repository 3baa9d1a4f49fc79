using System.Globalization;

namespace Serving.Workers.Templates;

/// <summary>
/// Variables of one scope, chained to the enclosing one. As in the reference, a for loop and a macro call open a
/// scope; <c>set</c> writes to the current scope (so a loop's assignments do not leak out: use a namespace).
/// </summary>
public sealed class JinjaScope(JinjaScope? parent = null)
{
    private readonly Dictionary<string, JinjaValue> _variables = new(StringComparer.Ordinal);
    private readonly JinjaScope? _parent = parent;

    public void Set(string name, JinjaValue value) => _variables[name] = value;

    public JinjaValue Lookup(string name)
    {
        for (var scope = this; scope is not null; scope = scope._parent)
        {
            if (scope._variables.TryGetValue(name, out var value))
            {
                return value;
            }
        }

        return JinjaValue.Undefined;
    }

    /// <summary>The globals every render starts with: booleans and none in both spellings, and the helper functions.</summary>
    public static JinjaScope Globals(TimeProvider clock)
    {
        var scope = new JinjaScope();
        scope.Set("false", JinjaValue.False);
        scope.Set("true", JinjaValue.True);
        scope.Set("none", JinjaValue.None);
        scope.Set("False", JinjaValue.False);
        scope.Set("True", JinjaValue.True);
        scope.Set("None", JinjaValue.None);
        scope.Set("raise_exception", new FunctionValue((args, _) =>
            throw new JinjaException(args.Count > 0 ? args[0].ToString() : "raise_exception called")));
        scope.Set("range", new FunctionValue((args, _) => Range(args)));
        scope.Set("strftime_now", new FunctionValue((args, _) =>
            JinjaValue.From(StrftimeNow(clock, args.Count > 0 && args[0] is StringValue format ? format.Value : ""))));
        scope.Set("namespace", new FunctionValue((args, _) => Namespace(args)));
        return scope;
    }

    private static JinjaValue Range(List<JinjaValue> args)
    {
        long Number(int i) => args[i] switch
        {
            IntegerValue n => n.Value,
            FloatValue f => (long)f.Value,
            BooleanValue b => b.Value ? 1 : 0,
            var other => throw new JinjaException($"range() expects numbers, got {other.TypeName}"),
        };

        var (start, stop) = args.Count == 1 ? (0L, Number(0)) : args.Count >= 2 ? (Number(0), Number(1))
            : throw new JinjaException("range() expects at least one argument");
        var step = args.Count > 2 ? Number(2) : 1;
        if (step == 0)
        {
            throw new JinjaException("range() step must not be zero");
        }

        var items = new List<JinjaValue>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (items.Count >= 1_000_000)
            {
                throw new JinjaException("range() longer than 1,000,000 items");
            }

            items.Add(new IntegerValue(i));
        }

        return new ArrayValue(items);
    }

    private static JinjaValue Namespace(List<JinjaValue> args)
    {
        var positional = args.ToList();
        ObjectValue? keywords = null;
        if (positional.Count > 0 && positional[^1] is ObjectValue { Kind: ObjectKind.KeywordArguments } last)
        {
            keywords = last;
            positional.RemoveAt(positional.Count - 1);
        }

        if (positional.Count > 1)
        {
            throw new JinjaException($"namespace expected at most 1 argument, got {positional.Count}");
        }

        var entries = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        if (positional.Count == 1)
        {
            switch (positional[0])
            {
                case ObjectValue { IsMapping: true } source:
                    foreach (var (key, value) in source.Entries)
                    {
                        entries[key] = value;
                    }

                    break;
                case ArrayValue pairs:
                    foreach (var pair in pairs.Items)
                    {
                        if (pair is not ArrayValue { Items: [StringValue key, var value] })
                        {
                            throw new JinjaException("namespace expected an object or an iterable of [key, value] pairs");
                        }

                        entries[key.Value] = value;
                    }

                    break;
                default:
                    throw new JinjaException($"'{positional[0].TypeName}' object is not iterable");
            }
        }

        foreach (var (key, value) in keywords?.Entries ?? [])
        {
            entries[key] = value;
        }

        return new ObjectValue(entries, ObjectKind.Namespace);
    }

    /// <summary>The reference's strftime: %Y %m %d %b %B %H %M %% in local time, English month names.</summary>
    private static string StrftimeNow(TimeProvider clock, string format)
    {
        var now = clock.GetLocalNow();
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                text.Append(format[i]);
                continue;
            }

            var token = format[++i];
            text.Append(token switch
            {
                'Y' => now.Year.ToString(CultureInfo.InvariantCulture),
                'm' => now.Month.ToString("00", CultureInfo.InvariantCulture),
                'd' => now.Day.ToString("00", CultureInfo.InvariantCulture),
                'b' => now.ToString("MMM", CultureInfo.InvariantCulture),
                'B' => now.ToString("MMMM", CultureInfo.InvariantCulture),
                'H' => now.Hour.ToString("00", CultureInfo.InvariantCulture),
                'M' => now.Minute.ToString("00", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => "%" + token,
            });
        }

        return text.ToString();
    }
}
