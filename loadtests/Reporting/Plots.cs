using Serving.LoadTests.Replay;

namespace Serving.LoadTests.Reporting;

/// <summary>The report's PNG plots (ScottPlot), one series per configuration.</summary>
internal static class Plots
{
    public static void CompletionCdf(string path, IReadOnlyList<ReplayResult> results)
    {
        var plot = new ScottPlot.Plot();
        foreach (var r in results)
        {
            var xs = r.Sessions.Where(s => s.CompletionSeconds is not null).Select(s => s.CompletionSeconds!.Value).Order().ToArray();
            if (xs.Length == 0) continue;
            var ys = Enumerable.Range(1, xs.Length).Select(i => (double)i / xs.Length).ToArray();
            plot.Add.ScatterLine(xs, ys).LegendText = r.Name;
        }

        Save(plot, path, "Session completion time (CDF)", "seconds", "fraction of sessions");
    }

    public static void TtftOverTime(string path, IReadOnlyList<ReplayResult> results)
    {
        var plot = new ScottPlot.Plot();
        foreach (var r in results)
        {
            var turns = r.Turns.Where(t => t.TtftSeconds is not null).OrderBy(t => t.StartSeconds).ToArray();
            if (turns.Length == 0) continue;
            var scatter = plot.Add.ScatterPoints(turns.Select(t => t.StartSeconds).ToArray(), turns.Select(t => t.TtftSeconds!.Value).ToArray());
            scatter.LegendText = r.Name;
        }

        Save(plot, path, "Time to first token over the run", "seconds since start", "TTFT (s)");
    }

    public static void KvUsage(string path, IReadOnlyList<ReplayResult> results)
    {
        var plot = new ScottPlot.Plot();
        foreach (var r in results.Where(r => r.KvUsage.Count > 0))
        {
            plot.Add.ScatterLine(r.KvUsage.Select(k => k.Seconds).ToArray(), r.KvUsage.Select(k => k.KvUsage).ToArray()).LegendText = r.Name;
        }

        Save(plot, path, "KV cache use (max over workers, from /metrics)", "seconds since start", "KV use (0-1)");
    }

    private static void Save(ScottPlot.Plot plot, string path, string title, string x, string y)
    {
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
    }
}
