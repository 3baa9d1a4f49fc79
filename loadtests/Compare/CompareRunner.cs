using System.Diagnostics;
using System.Globalization;
using Serving.LoadTests.Replay;
using Serving.LoadTests.Reporting;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Compare;

/// <summary>
/// Starts the service once per configuration ("scheduler+pausepolicy"), replays the same workload against each,
/// samples KV use from /metrics while it runs, and writes one report comparing them.
/// </summary>
public sealed class CompareRunner(string gatewayDll, string workerDll, string model, IReadOnlyList<string> serviceArgs, TextWriter output)
{
    public static IReadOnlyList<(string Scheduler, string Pause)> ParseConfigs(string configs) =>
        configs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c =>
        {
            var parts = c.Split('+');
            if (parts.Length != 2 || parts[0] is not ("mlfq" or "fcfs") || parts[1] is not ("drop" or "keep" or "ttl" or "adaptive"))
            {
                throw new ArgumentException($"bad configuration '{c}': use scheduler+policy, e.g. fcfs+drop or mlfq+adaptive");
            }

            return (parts[0], parts[1]);
        }).ToList();

    public async Task<List<ReplayResult>> RunAsync(AgentWorkload workload, IReadOnlyList<(string Scheduler, string Pause)> configs, TimeSpan limitPerConfig)
    {
        var results = new List<ReplayResult>();
        foreach (var (scheduler, pause) in configs)
        {
            var name = $"{scheduler}+{pause}";
            output.WriteLine($"== {name}: starting the service");
            await using var service = await ServiceProcess.StartAsync(gatewayDll, workerDll, model, scheduler, pause, serviceArgs, TimeSpan.FromMinutes(3));
            using var http = new HttpClient { BaseAddress = new Uri(service.Url + "/"), Timeout = TimeSpan.FromMinutes(10) };
            using var sampling = new CancellationTokenSource();
            var samples = new List<(double, double)>();
            var clock = Stopwatch.StartNew();
            var sampler = SampleKvAsync(http, samples, clock, sampling.Token);
            var result = await new ReplayHarness(http, "default", output).RunAsync(name, workload, limitPerConfig);
            await sampling.CancelAsync();
            await sampler;
            results.Add(result with { KvUsage = samples });
            output.WriteLine($"== {name}: {result.Turns.Count} turns, {result.Errors} errors, {result.WallSeconds:F1} s");
        }

        return results;
    }

    /// <summary>Max KV use over workers, read from the gateway's merged /metrics every 500 ms.</summary>
    private static async Task SampleKvAsync(HttpClient http, List<(double, double)> samples, Stopwatch clock, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var text = await http.GetStringAsync("metrics", ct);
                var values = text.Split('\n').Where(l => l.StartsWith("serving_kv_cache_usage_perc", StringComparison.Ordinal))
                    .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)).DefaultIfEmpty(0);
                samples.Add((clock.Elapsed.TotalSeconds, values.Max()));
                await Task.Delay(500, ct);
            }
            catch (Exception e) when (e is OperationCanceledException or HttpRequestException or FormatException)
            {
                if (ct.IsCancellationRequested) return;
            }
        }
    }
}
