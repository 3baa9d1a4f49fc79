using System.Text;

namespace Serving.LoadTests.Simulation;

/// <summary>The simulation's one table: completion time, TTFT and throughput per configuration, with ratios to the first.</summary>
public static class SimulationTable
{
    public static string Format(IReadOnlyList<SimulationResult> results, int sessions, int workers, TimeSpan wall)
    {
        var text = new StringBuilder();
        text.AppendLine($"Simulated {sessions:N0} sessions on {workers} workers (virtual time; engine costs from the measured 125M model). Wall time {wall.TotalSeconds:F1} s.");
        text.AppendLine();
        text.AppendLine("| configuration | completion mean (s) | p50 | p95 | p99 | TTFT mean (s) | p50 | p95 | p99 | sessions/min | output tok/s | mean vs first | p95 vs first | unfinished |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        var reference = results[0];
        foreach (var r in results)
        {
            text.AppendLine($"| {r.Name} | {r.Completion.Mean:F2} | {r.Completion.P50:F2} | {r.Completion.P95:F2} | {r.Completion.P99:F2} | " +
                            $"{r.Ttft.Mean:F3} | {r.Ttft.P50:F3} | {r.Ttft.P95:F3} | {r.Ttft.P99:F3} | {r.SessionsPerMinute:F0} | {r.OutputTokensPerSecond:F0} | " +
                            $"{r.Completion.Mean / reference.Completion.Mean:F2} | {r.Completion.P95 / reference.Completion.P95:F2} | {r.Unfinished} |");
        }

        var stuck = results.Where(r => r.Unfinished > 0).ToList();
        text.AppendLine();
        text.AppendLine(stuck.Count == 0
            ? $"Every session finished in every configuration ({sessions:N0} each)."
            : "NOT FINISHED: " + string.Join("; ", stuck.Select(r => $"{r.Name}: {r.Unfinished:N0} of {sessions:N0} sessions")));
        return text.ToString();
    }
}
