using System.Globalization;
using System.Text.RegularExpressions;

namespace Serving.Gateway.Tests.Support;

/// <summary>
/// A strict parser of the Prometheus text exposition format (0.0.4): every line must be a HELP, a TYPE or a sample;
/// each family's HELP/TYPE appears once and before its samples; samples belong to a declared family; values parse.
/// </summary>
public sealed partial class PrometheusText
{
    [GeneratedRegex("""^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)( \d+)?$""")]
    private static partial Regex Sample();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex Label();

    public Dictionary<string, string> Types { get; } = [];

    public List<(string Name, Dictionary<string, string> Labels, double Value)> Samples { get; } = [];

    public static PrometheusText Parse(string text)
    {
        var result = new PrometheusText();
        var helped = new HashSet<string>();
        var sampled = new HashSet<string>();
        foreach (var line in text.Split('\n').Where(l => l.Length > 0))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var name = line[7..].Split(' ')[0];
                Assert.True(helped.Add(name), $"HELP repeated for {name}");
                Assert.DoesNotContain(name, sampled);
            }
            else if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ');
                Assert.Equal(2, parts.Length);
                Assert.Contains(parts[1], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                Assert.True(result.Types.TryAdd(parts[0], parts[1]), $"TYPE repeated for {parts[0]}");
                Assert.DoesNotContain(parts[0], sampled);
            }
            else
            {
                Assert.False(line.StartsWith('#'), $"unexpected comment: {line}");
                var m = Sample().Match(line);
                Assert.True(m.Success, $"not a valid sample line: {line}");
                var name = m.Groups[1].Value;
                var family = result.Types.Keys.FirstOrDefault(f => name == f || name.StartsWith(f + "_", StringComparison.Ordinal) && result.Types[f] is "histogram" or "summary" || name == f + "_total");
                Assert.True(family is not null, $"sample {name} has no TYPE");
                sampled.Add(family!);
                var value = m.Groups[4].Value;
                Assert.True(double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || value is "+Inf" or "-Inf" or "NaN", $"bad value in {line}");
                var labels = Label().Matches(m.Groups[3].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
                result.Samples.Add((name, labels, v));
            }
        }

        return result;
    }

    public double Sum(string name, string? label = null, string? value = null) =>
        Samples.Where(s => s.Name == name && (label is null || s.Labels.GetValueOrDefault(label) == value)).Sum(s => s.Value);
}
