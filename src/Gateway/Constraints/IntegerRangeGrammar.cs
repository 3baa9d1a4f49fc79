namespace Serving.Gateway.Constraints;

/// <summary>
/// A GBNF expression for the integers within optional bounds (JSON Schema's minimum/maximum on an integer), digit by
/// digit as a regular expression for a numeric range is built: split by digit count, then by leading digit. No
/// leading zeros, no "-0"; at most 16 digits, like the unbounded integer rule.
/// </summary>
public static class IntegerRangeGrammar
{
    private const int MaxDigits = 16;
    private static readonly long Largest = (long)Math.Pow(10, MaxDigits) - 1;

    public static string Expression(long? min, long? max)
    {
        var lo = Math.Max(min ?? -Largest, -Largest);
        var hi = Math.Min(max ?? Largest, Largest);
        if (lo > hi)
        {
            throw new ArgumentException("the range is empty");
        }

        var parts = new List<string>();
        if (lo < 0)
        {
            // Negative numbers: "-" then the magnitudes |hi'|..|lo| with hi' = min(hi, -1).
            parts.Add("\"-\" " + Group(NonNegative(hi < 0 ? -hi : 1, -lo)));
        }

        if (hi >= 0)
        {
            parts.Add(Group(NonNegative(Math.Max(lo, 0), hi)));
        }

        return Group(parts);
    }

    /// <summary>Alternatives for lo..hi, 0 ≤ lo ≤ hi.</summary>
    private static List<string> NonNegative(long lo, long hi)
    {
        var result = new List<string>();
        for (var digits = Digits(lo); digits <= Digits(hi); digits++)
        {
            var first = digits == 1 ? 0 : (long)Math.Pow(10, digits - 1);
            var last = (long)Math.Pow(10, digits) - 1;
            SameLength(Math.Max(lo, first).ToString(Inv), Math.Min(hi, last).ToString(Inv), result, "");
        }

        return result;
    }

    /// <summary>Numbers from a to b, both written with the same number of digits.</summary>
    private static void SameLength(string a, string b, List<string> into, string prefix)
    {
        if (a == b)
        {
            into.Add(Join(prefix, Literal(a)));
            return;
        }

        if (a.Length == 1)
        {
            into.Add(Join(prefix, $"[{a}-{b}]"));
            return;
        }

        if (a[0] == b[0])
        {
            SameLength(a[1..], b[1..], into, Join(prefix, Literal(a[..1])));
            return;
        }

        var rest = a.Length - 1;
        if (a[1..].All(c => c == '0') && b[1..].All(c => c == '9'))
        {
            into.Add(Join(prefix, $"[{a[0]}-{b[0]}] [0-9]{{{rest}}}"));
            return;
        }

        SameLength(a, a[0] + new string('9', rest), into, prefix);
        if (b[0] - a[0] > 1)
        {
            into.Add(Join(prefix, $"[{(char)(a[0] + 1)}-{(char)(b[0] - 1)}] [0-9]{{{rest}}}"));
        }

        SameLength(b[0] + new string('0', rest), b, into, prefix);
    }

    private static int Digits(long n) => n.ToString(Inv).Length;

    private static string Join(string prefix, string next) => prefix.Length == 0 ? next : prefix + " " + next;

    private static string Literal(string digits) => "\"" + digits + "\"";

    private static string Group(IEnumerable<string> alternatives) => "(" + string.Join(" | ", alternatives) + ")";

    private static readonly System.Globalization.CultureInfo Inv = System.Globalization.CultureInfo.InvariantCulture;
}
