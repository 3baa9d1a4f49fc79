using System.Text;

namespace Serving.Gateway.Metrics;

/// <summary>
/// Merges Prometheus text expositions from several workers into one valid page: every family's HELP and TYPE appear
/// once, followed by the samples of all workers, each sample labelled with its worker. (Concatenating the pages
/// would repeat families, which strict parsers reject.)
/// </summary>
public static class MetricsMerger
{
    private sealed class Family(string name)
    {
        public string Name { get; } = name;
        public string? Help { get; set; }
        public string? Type { get; set; }
        public List<string> Samples { get; } = [];
    }

    public static string Merge(IEnumerable<(string Worker, string Text)> pages)
    {
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var order = new List<Family>();
        Family FamilyOf(string name)
        {
            if (!families.TryGetValue(name, out var f))
            {
                f = new Family(name);
                families[name] = f;
                order.Add(f);
            }

            return f;
        }

        foreach (var (worker, text) in pages)
        {
            Family? current = null;
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.TrimEnd('\r');
                if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    var rest = line[7..];
                    var space = rest.IndexOf(' ');
                    var name = space < 0 ? rest : rest[..space];
                    current = FamilyOf(name);
                    if (line[2] == 'H')
                    {
                        current.Help ??= line;
                    }
                    else
                    {
                        current.Type ??= line;
                    }
                }
                else if (line.Length > 0 && line[0] != '#')
                {
                    (current ?? FamilyOf(MetricName(line))).Samples.Add(WithLabel(line, "worker", worker));
                }
            }
        }

        var output = new StringBuilder();
        foreach (var f in order)
        {
            if (f.Help is not null) output.Append(f.Help).Append('\n');
            if (f.Type is not null) output.Append(f.Type).Append('\n');
            foreach (var s in f.Samples)
            {
                output.Append(s).Append('\n');
            }
        }

        return output.ToString();
    }

    private static string MetricName(string sample)
    {
        var end = sample.IndexOfAny(['{', ' ']);
        return end < 0 ? sample : sample[..end];
    }

    /// <summary>Adds <c>name="value"</c> as the first label of a sample line.</summary>
    public static string WithLabel(string sample, string name, string value)
    {
        var label = $"{name}=\"{value}\"";
        var brace = sample.IndexOf('{');
        var space = sample.IndexOf(' ');
        if (brace >= 0 && (space < 0 || brace < space))
        {
            var closesEmpty = sample[brace + 1] == '}';
            return sample[..(brace + 1)] + label + (closesEmpty ? "" : ",") + sample[(brace + 1)..];
        }

        return sample[..space] + "{" + label + "}" + sample[space..];
    }
}
