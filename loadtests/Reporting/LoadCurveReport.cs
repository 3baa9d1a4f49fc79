using System.Globalization;
using System.Text;
using Serving.LoadTests.Compare;
using Serving.LoadTests.Replay;

namespace Serving.LoadTests.Reporting;

/// <summary>
/// The latency–load curve of a rate sweep: mean and p95 session completion and TTFT against arrival rate, every
/// configuration on one plot, plus the table with ratios against the first configuration at each rate.
/// </summary>
public static class LoadCurveReport
{
    public static string Write(string folder, IReadOnlyList<LoadPoint> points, string description)
    {
        Directory.CreateDirectory(folder);
        var md = new StringBuilder();
        md.AppendLine("# Load curve").AppendLine().AppendLine(description).AppendLine();
        md.AppendLine(Table(points));
        md.AppendLine("![session completion against arrival rate](load-curve-completion.png)").AppendLine();
        md.AppendLine("![TTFT against arrival rate](load-curve-ttft.png)").AppendLine();
        foreach (var point in points)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"## {point.Rate} sessions/s").AppendLine().AppendLine(ReportWriter.Table(point.Results));
        }

        Curve(Path.Combine(folder, "load-curve-completion.png"), points, Summary.Completion, "Session completion time against load", "session completion (s)");
        Curve(Path.Combine(folder, "load-curve-ttft.png"), points, Summary.Ttft, "Time to first token against load", "TTFT (s)");
        var path = Path.Combine(folder, "report.md");
        File.WriteAllText(path, md.ToString());
        return path;
    }

    public static string Table(IReadOnlyList<LoadPoint> points)
    {
        var md = new StringBuilder();
        var baseline = points[0].Results[0].Name;
        var rounds = points.Max(p => p.Rounds.Count) > 1;
        md.AppendLine(CultureInfo.InvariantCulture, $"Ratios against {baseline} at the same rate (below 1 = faster):").AppendLine();
        md.AppendLine("| rate (sessions/s) | configuration | sessions done | errors | prompt tokens per turn | mean completion (s) | p95 completion (s) | mean server wait (s) | mean TTFT (s) | p95 TTFT (s) | mean completion ratio | p95 completion ratio | mean server wait ratio | mean TTFT ratio |"
                      + (rounds ? " mean completion ratio per round |" : ""));
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" + (rounds ? "---|" : ""));
        foreach (var point in points)
        {
            var (bc, bt, bw) = (Summary.Completion(point.Results[0]), Summary.Ttft(point.Results[0]), Summary.ServerWait(point.Results[0]));
            for (var i = 0; i < point.Results.Count; i++)
            {
                var r = point.Results[i];
                var (c, t, w) = (Summary.Completion(r), Summary.Ttft(r), Summary.ServerWait(r));
                var perRound = rounds ? " " + string.Join(", ", point.RoundRatios(i).Select(x => x.ToString("F2", CultureInfo.InvariantCulture))) + " |" : "";
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {point.Rate} | {r.Name} | {c.Count}/{r.Sessions.Count} | {r.Errors} | {r.Turns.Where(x => x.Error is null).Select(x => x.PromptTokens).DefaultIfEmpty().Average():F0} | {c.Mean:F2} | {c.P95:F2} | {w.Mean:F2} | {t.Mean:F3} | {t.P95:F3} | {c.Mean / bc.Mean:F2} | {c.P95 / bc.P95:F2} | {w.Mean / bw.Mean:F2} | {t.Mean / bt.Mean:F2} |{perRound}");
            }
        }

        return md.ToString();
    }

    /// <summary>Mean (solid) and p95 (dashed) of one measure against rate, one colour per configuration.</summary>
    private static void Curve(string path, IReadOnlyList<LoadPoint> points, Func<ReplayResult, Summary> measure, string title, string y)
    {
        var plot = new ScottPlot.Plot();
        var names = points.SelectMany(p => p.Results.Select(r => r.Name)).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        for (var i = 0; i < names.Count; i++)
        {
            var rows = points.Select(p => (p.Rate, Result: p.Results.FirstOrDefault(r => r.Name == names[i]))).Where(x => x.Result is not null)
                .Select(x => (x.Rate, S: measure(x.Result!))).ToArray();
            var xs = rows.Select(r => r.Rate).ToArray();
            var mean = plot.Add.Scatter(xs, rows.Select(r => r.S.Mean).ToArray(), palette.GetColor(i));
            mean.LegendText = $"{names[i]} mean";
            var p95 = plot.Add.Scatter(xs, rows.Select(r => r.S.P95).ToArray(), palette.GetColor(i));
            p95.LegendText = $"{names[i]} p95";
            p95.LinePattern = ScottPlot.LinePattern.Dashed;
        }

        plot.Title(title);
        plot.XLabel("session arrival rate (sessions/s)");
        plot.YLabel(y);
        // Beside the plot, never over a curve's points.
        plot.ShowLegend(ScottPlot.Edge.Right);
        plot.SavePng(path, 1100, 500);
    }
}
