using HdrHistogram;
using Serving.LoadTests.Replay;

namespace Serving.LoadTests.Reporting;

/// <summary>Mean and percentiles of a sample of durations (seconds), via HdrHistogram at microsecond resolution.</summary>
public sealed record Summary(int Count, double Mean, double P50, double P95, double P99)
{
    public static Summary Of(IEnumerable<double> seconds)
    {
        var histogram = new LongHistogram(TimeSpan.FromDays(1).Ticks / 10, 3);
        var count = 0;
        foreach (var s in seconds)
        {
            histogram.RecordValue(Math.Max(0, (long)(s * 1e6)));
            count++;
        }

        if (count == 0)
        {
            return new Summary(0, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        double At(double p) => histogram.GetValueAtPercentile(p) / 1e6;
        return new Summary(count, histogram.GetMean() / 1e6, At(50), At(95), At(99));
    }

    /// <summary>Completion time of the sessions that finished (arrival to last answer).</summary>
    public static Summary Completion(ReplayResult r) => Of(r.Sessions.Where(s => s.CompletionSeconds is not null).Select(s => s.CompletionSeconds!.Value));

    /// <summary>
    /// Per finished session, the time its agent waited on the server: the sum of its turns' request-to-last-token
    /// times, i.e. completion minus the tool pauses (which are the workload's, the same on every server).
    /// </summary>
    public static Summary ServerWait(ReplayResult r)
    {
        var finished = r.Sessions.Where(s => s.CompletionSeconds is not null).Select(s => s.Session).ToHashSet(StringComparer.Ordinal);
        return Of(r.Turns.Where(t => finished.Contains(t.Session)).GroupBy(t => t.Session).Select(g => g.Sum(t => t.E2eSeconds)));
    }

    /// <summary>Mean time between streamed tokens over every turn (seconds; NaN when no turn streamed two tokens).</summary>
    public static double MeanInterToken(ReplayResult r) =>
        r.Turns.SelectMany(t => t.InterTokenSeconds).DefaultIfEmpty(double.NaN).Average();

    /// <summary>Time to first token of the turns that produced one.</summary>
    public static Summary Ttft(ReplayResult r) => Of(r.Turns.Where(t => t.TtftSeconds is not null).Select(t => t.TtftSeconds!.Value));

    public string Row(string name) => $"| {name} | {Count} | {Mean:F3} | {P50:F3} | {P95:F3} | {P99:F3} |";

    public const string Header = "| configuration | n | mean (s) | p50 (s) | p95 (s) | p99 (s) |\n|---|---|---|---|---|---|";
}
