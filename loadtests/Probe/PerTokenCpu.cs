using System.Globalization;

namespace Serving.LoadTests.Probe;

/// <summary>
/// Where a generated token's time goes in our service, from its own metrics scraped before and after a run: the
/// engine thread's phases (serving_engine_phase_seconds_total), and each process's CPU time.
/// </summary>
public sealed record PerTokenCpu(double Tokens, double DecodeUs, double EngineOtherUs, double WorkerCpuUs, double GatewayCpuUs)
{
    public sealed record Scrape(double Tokens, double Decode, double EngineOther, double WorkerCpu, double GatewayCpu);

    public static async Task<Scrape> ScrapeAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("metrics");
        double Sum(string prefix, Func<string, bool>? where = null) => text.Split('\n')
            .Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && (where?.Invoke(l) ?? true))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
        return new Scrape(
            Sum("serving_generation_tokens_total"),
            Sum("serving_engine_phase_seconds_total", l => l.Contains("phase=\"decode\"", StringComparison.Ordinal)),
            Sum("serving_engine_phase_seconds_total", l => !l.Contains("phase=\"decode\"", StringComparison.Ordinal)),
            Sum("serving_worker_cpu_seconds"),
            Sum("serving_gateway_cpu_seconds"));
    }

    public static PerTokenCpu Between(Scrape a, Scrape b)
    {
        var tokens = Math.Max(1, b.Tokens - a.Tokens);
        return new(tokens, (b.Decode - a.Decode) / tokens * 1e6, (b.EngineOther - a.EngineOther) / tokens * 1e6,
            (b.WorkerCpu - a.WorkerCpu) / tokens * 1e6, (b.GatewayCpu - a.GatewayCpu) / tokens * 1e6);
    }

    /// <summary>Token-weighted over several runs.</summary>
    public static PerTokenCpu Sum(IReadOnlyList<PerTokenCpu> runs)
    {
        var tokens = runs.Sum(r => r.Tokens);
        double Weighted(Func<PerTokenCpu, double> f) => tokens == 0 ? double.NaN : runs.Sum(r => f(r) * r.Tokens) / tokens;
        return new(tokens, Weighted(r => r.DecodeUs), Weighted(r => r.EngineOtherUs), Weighted(r => r.WorkerCpuUs), Weighted(r => r.GatewayCpuUs));
    }
}
