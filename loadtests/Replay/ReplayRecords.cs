namespace Serving.LoadTests.Replay;

/// <summary>One turn as the client saw it. Times in seconds; TTFT/ITL null when no token arrived.</summary>
public sealed record TurnRecord(string Session, int Turn, double StartSeconds, double? TtftSeconds, IReadOnlyList<double> InterTokenSeconds,
    double E2eSeconds, int PromptTokens, int CachedTokens, int CompletionTokens, int Status, string? Error);

/// <summary>One session: arrival to the end of its last turn (tool pauses included), or null if it failed.</summary>
public sealed record SessionRecord(string Session, double ArrivalSeconds, double? CompletionSeconds, int Errors);

public sealed record ReplayResult(string Name, IReadOnlyList<TurnRecord> Turns, IReadOnlyList<SessionRecord> Sessions, double WallSeconds,
    IReadOnlyList<(double Seconds, double KvUsage)> KvUsage)
{
    public int Errors => Turns.Count(t => t.Error is not null);

    public IReadOnlyDictionary<int, int> ErrorsByStatus => Turns.Where(t => t.Error is not null).GroupBy(t => t.Status).ToDictionary(g => g.Key, g => g.Count());

    public double CachedRatio => Turns.Sum(t => t.PromptTokens) is var p and > 0 ? (double)Turns.Sum(t => t.CachedTokens) / p : 0;

    public double OutputTokensPerSecond => Turns.Sum(t => t.CompletionTokens) / Math.Max(WallSeconds, 1e-9);

    /// <summary>
    /// Several runs of one configuration as one sample: sessions and turns of every run (those of run r tagged
    /// "#r", so a session's turns stay its own), wall time summed (output tok/s over all runs), the first run's KV
    /// samples (one timeline).
    /// </summary>
    public static ReplayResult Pool(IReadOnlyList<ReplayResult> runs)
    {
        if (runs.Count == 1)
        {
            return runs[0];
        }

        string Tag(string session, int run) => run == 0 ? session : $"{session}#{run}";
        return new ReplayResult(runs[0].Name,
            runs.SelectMany((r, i) => r.Turns.Select(t => t with { Session = Tag(t.Session, i) })).ToList(),
            runs.SelectMany((r, i) => r.Sessions.Select(s => s with { Session = Tag(s.Session, i) })).ToList(),
            runs.Sum(r => r.WallSeconds), runs[0].KvUsage);
    }
}
