using System.Globalization;
using System.Text;
using Serving.LoadTests.Replay;

namespace Serving.LoadTests.Reporting;

/// <summary>Writes report.md with the comparison tables and ratios, plus PNG plots beside it.</summary>
public static class ReportWriter
{
    public static string Write(string folder, IReadOnlyList<ReplayResult> results, string description)
    {
        Directory.CreateDirectory(folder);
        var md = new StringBuilder();
        md.AppendLine("# Load test report").AppendLine().AppendLine(description).AppendLine();
        md.AppendLine(Table(results));
        md.AppendLine("![session completion CDF](completion-cdf.png)").AppendLine();
        md.AppendLine("![TTFT over time](ttft-over-time.png)").AppendLine();
        md.AppendLine("![KV use over time](kv-usage.png)").AppendLine();
        Plots.CompletionCdf(Path.Combine(folder, "completion-cdf.png"), results);
        Plots.TtftOverTime(Path.Combine(folder, "ttft-over-time.png"), results);
        Plots.KvUsage(Path.Combine(folder, "kv-usage.png"), results);
        var path = Path.Combine(folder, "report.md");
        File.WriteAllText(path, md.ToString());
        return path;
    }

    /// <summary>The tables alone (also printed to the console).</summary>
    public static string Table(IReadOnlyList<ReplayResult> results)
    {
        var md = new StringBuilder();
        md.AppendLine("Session completion time (arrival to last answer, tool pauses included):").AppendLine();
        md.AppendLine(Summary.Header);
        foreach (var r in results) md.AppendLine(Summary.Completion(r).Row(r.Name));
        md.AppendLine().AppendLine("Time each session's agent waited on the server (completion minus its tool pauses: the sum of its turns' request-to-last-token times):").AppendLine();
        md.AppendLine(Summary.Header);
        foreach (var r in results) md.AppendLine(Summary.ServerWait(r).Row(r.Name));
        md.AppendLine().AppendLine("Time to first token per turn:").AppendLine();
        md.AppendLine(Summary.Header);
        foreach (var r in results) md.AppendLine(Summary.Ttft(r).Row(r.Name));
        md.AppendLine().AppendLine("| configuration | turns | errors (by status) | cached prompt share | output tok/s | mean inter-token (ms) | wall (s) |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            var errors = r.Errors == 0 ? "0" : $"{r.Errors} ({string.Join(", ", r.ErrorsByStatus.Select(e => $"{e.Key}: {e.Value}"))})";
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Turns.Count} | {errors} | {r.CachedRatio:P1} | {r.OutputTokensPerSecond:F1} | {Summary.MeanInterToken(r) * 1000:F1} | {r.WallSeconds:F1} |");
        }

        if (results.Count > 1)
        {
            md.AppendLine().AppendLine($"Ratios against {results[0].Name} (below 1 = faster):").AppendLine();
            md.AppendLine("| configuration | mean completion | p95 completion | mean server wait | p95 server wait | mean TTFT | p95 TTFT |").AppendLine("|---|---|---|---|---|---|---|");
            var baseC = Summary.Completion(results[0]);
            var baseT = Summary.Ttft(results[0]);
            var baseW = Summary.ServerWait(results[0]);
            foreach (var r in results.Skip(1))
            {
                var c = Summary.Completion(r);
                var t = Summary.Ttft(r);
                var w = Summary.ServerWait(r);
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Name} | {c.Mean / baseC.Mean:F2} | {c.P95 / baseC.P95:F2} | {w.Mean / baseW.Mean:F2} | {w.P95 / baseW.P95:F2} | {t.Mean / baseT.Mean:F2} | {t.P95 / baseT.P95:F2} |");
            }
        }

        return md.ToString();
    }
}
