using System.Text;

namespace Serving.LoadTests.Workload;

/// <summary>Knobs of the generator; defaults follow real coding-agent traces (agent-serving-papers.md §3), scaled down.</summary>
public sealed record WorkloadOptions
{
    public int Sessions { get; init; } = 20;
    public int Seed { get; init; } = 1;

    /// <summary>Poisson session arrivals per second; 0 = all sessions start at once (fixed concurrency).</summary>
    public double ArrivalRate { get; init; } = 1;
    public double TurnsMedian { get; init; } = 6;
    public int MaxTurns { get; init; } = 20;
    public int SystemPromptTokens { get; init; } = 300;
    public int TaskTokens { get; init; } = 150;
    public int ToolResultTokens { get; init; } = 200;
    public int OutputTokens { get; init; } = 32;

    /// <summary>Multiplies every tool pause (1 = trace-like: median ≈ 0.3 s, p90 ≈ 14 s).</summary>
    public double PauseScale { get; init; } = 1;
}

/// <summary>
/// Generates agent workloads, deterministic from the seed. Tool pauses come from a mixture of tool kinds with their
/// own log-normal durations (quick file reads … slow installs), which gives the heavy tail of real traces and lets a
/// per-tool predictor learn something.
/// </summary>
public static class WorkloadGenerator
{
    /// <summary>Tool kinds: name, share of calls, median seconds, log-normal sigma.</summary>
    public static readonly IReadOnlyList<(string Name, double Share, double MedianSeconds, double Sigma)> Tools =
    [
        ("read_file", 0.42, 0.08, 0.7),
        ("grep", 0.21, 0.35, 0.7),
        ("edit_file", 0.15, 0.9, 0.6),
        ("run_tests", 0.15, 10, 0.6),
        ("install", 0.07, 30, 0.7),
    ];

    private static readonly string[] Words =
    [
        "the", "agent", "reads", "file", "function", "returns", "error", "test", "passes", "fails", "module", "import",
        "class", "value", "config", "build", "output", "line", "json", "result", "user", "call", "tool", "path",
    ];

    public static AgentWorkload Generate(WorkloadOptions o)
    {
        var random = new Random(o.Seed);
        var system = Text(random, o.SystemPromptTokens);
        var sessions = new List<AgentSession>(o.Sessions);
        var clock = 0.0;
        for (var s = 0; s < o.Sessions; s++)
        {
            if (o.ArrivalRate > 0)
            {
                clock += -Math.Log(1 - random.NextDouble()) / o.ArrivalRate;
            }

            var turns = Math.Clamp((int)Math.Round(LogNormal(random, o.TurnsMedian, 0.6)), 1, o.MaxTurns);
            var list = new List<AgentTurn>(turns);
            for (var t = 0; t < turns; t++)
            {
                var (tool, pause) = t == 0 ? ("", 0.0) : DrawPause(random);
                var result = t == 0 ? "" : Text(random, (int)LogNormal(random, o.ToolResultTokens, 0.5));
                list.Add(new AgentTurn(tool, result, pause * o.PauseScale, o.OutputTokens));
            }

            sessions.Add(new AgentSession($"session-{o.Seed}-{s:D5}", Math.Round(clock, 3), Text(random, o.TaskTokens), list));
        }

        return new AgentWorkload(o.Seed, system, sessions);
    }

    /// <summary>One tool call: its kind, then its duration from that kind's distribution.</summary>
    public static (string Tool, double Seconds) DrawPause(Random random)
    {
        var pick = random.NextDouble();
        foreach (var (name, share, median, sigma) in Tools)
        {
            if ((pick -= share) <= 0)
            {
                return (name, Math.Round(LogNormal(random, median, sigma), 3));
            }
        }

        var last = Tools[^1];
        return (last.Name, LogNormal(random, last.MedianSeconds, last.Sigma));
    }

    /// <summary>A log-normal draw around <paramref name="median"/>; the simulation draws its shapes with it too.</summary>
    internal static double LogNormal(Random random, double median, double sigma)
    {
        // Box-Muller normal, exponentiated around the median.
        var u1 = 1 - random.NextDouble();
        var u2 = random.NextDouble();
        var normal = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return median * Math.Exp(sigma * normal);
    }

    /// <summary>Deterministic filler text of roughly <paramref name="tokens"/> tokens (about one word per token).</summary>
    private static string Text(Random random, int tokens)
    {
        var text = new StringBuilder();
        for (var i = 0; i < Math.Max(1, tokens); i++)
        {
            text.Append(Words[random.Next(Words.Length)]).Append(i % 12 == 11 ? ".\n" : " ");
        }

        return text.ToString().TrimEnd();
    }
}
