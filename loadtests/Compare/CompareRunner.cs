using System.Diagnostics;
using System.Globalization;
using Serving.LoadTests.Replay;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Compare;

/// <summary>
/// Starts each server configuration afresh (ours as "scheduler+pausepolicy", or llama.cpp's server), replays the same
/// workload against it alone on the machine, samples KV use from /metrics while it runs (ours), and returns one result
/// per configuration.
/// </summary>
/// <param name="peerTemplate">Chat template for both servers (see <see cref="RepoPaths.PeerToolTemplate"/>), or null for the GGUF's.</param>
public sealed class CompareRunner(string gatewayDll, string workerDll, string? llamaServer, string model, ServiceShape shape, TextWriter output, string? peerTemplate = null)
{
    /// <summary>
    /// Where to keep our service's /metrics as they stood at the end of each run (engine phases, step sizes, cache
    /// hits: what explains a result), as <c>{configuration}-{label}.prom</c>; null keeps none.
    /// </summary>
    public string? MetricsFolder { get; init; }

    /// <summary>Every configuration once; results in configuration order.</summary>
    /// <param name="round">Rotates the running order (round 1 starts with the second configuration, …), so no
    /// configuration always runs first on a host that drifts.</param>
    /// <param name="label">Names this run's kept metrics (see <see cref="MetricsFolder"/>).</param>
    public async Task<List<ReplayResult>> RunAsync(AgentWorkload workload, IReadOnlyList<ServerConfig> configs, TimeSpan limitPerConfig, int round = 0, string label = "run")
    {
        var results = new ReplayResult[configs.Count];
        foreach (var index in RunningOrder(configs.Count, round))
        {
            results[index] = await RunOneAsync(workload, configs[index], limitPerConfig, label);
        }

        return [.. results];
    }

    /// <summary>Configuration indices in the order round <paramref name="round"/> runs them.</summary>
    public static IEnumerable<int> RunningOrder(int configs, int round) => Enumerable.Range(0, configs).Select(i => (i + round) % configs);

    public async Task<ReplayResult> RunOneAsync(AgentWorkload workload, ServerConfig config, TimeSpan limit, string label = "run")
    {
        output.WriteLine($"== {config.Name}: starting ({shape.Describe()})");
        await using var service = await StartServerAsync(config);
        using var http = ReplayHarness.CreateClient(service.Url, TimeSpan.FromMinutes(10));
        using var sampling = new CancellationTokenSource();
        var samples = new List<(double, double)>();
        var clock = Stopwatch.StartNew();
        var sampler = config.IsPeer ? Task.CompletedTask : SampleKvAsync(http, samples, clock, sampling.Token);
        var result = await new ReplayHarness(http, "default", output).RunAsync(config.Name, workload, limit);
        await sampling.CancelAsync();
        await sampler;
        if (MetricsFolder is not null && !config.IsPeer)
        {
            await KeepMetricsAsync(http, Path.Combine(MetricsFolder, $"{config.Name}-{label}.prom"));
        }

        output.WriteLine($"== {config.Name}: {result.Turns.Count} turns, {result.Errors} errors, {result.WallSeconds:F1} s");
        if (result.Turns.FirstOrDefault(t => t.Error is not null) is { } failed)
        {
            output.WriteLine($"== {config.Name}: first error (HTTP {failed.Status}): {failed.Error}");
        }

        return result with { KvUsage = samples };
    }

    /// <summary>Starts one configuration with this runner's model and shape; ready when the task completes.</summary>
    public Task<ServiceProcess> StartServerAsync(ServerConfig config)
    {
        if (!config.IsPeer)
        {
            // The same chat template as the peer's (when one is given), so both servers see the same prompt tokens.
            string[] template = peerTemplate is null ? [] : ["--chat-template", peerTemplate];
            return ServiceProcess.StartAsync(gatewayDll, workerDll, model, config.Scheduler!, config.Pause!, [.. shape.GatewayArgs, .. config.ExtraGatewayArgs, .. template], TimeSpan.FromMinutes(3));
        }

        return llamaServer is null
            ? throw new InvalidOperationException(RepoPaths.NoPeer)
            : ServiceProcess.StartPeerAsync(llamaServer, model, shape.Slots, shape.ContextPerSlot, shape.Threads, TimeSpan.FromMinutes(3), peerTemplate);
    }

    private async Task KeepMetricsAsync(HttpClient http, string path)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, await http.GetStringAsync("metrics"));
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            output.WriteLine($"== could not keep the metrics in {path}: {e.Message}");
        }
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

/// <summary>
/// One server in a comparison: ours with a scheduler and pause policy (with "+mixed", decode-first off; with
/// "+fixedcosts", the default cost model instead of one calibrated to the engine), or llama.cpp's own server (its
/// defaults).
/// </summary>
public sealed record ServerConfig(string Name, string? Scheduler, string? Pause, bool DecodeFirst = true, bool CalibrateCosts = true)
{
    public const string PeerName = "llama-server";
    public const string MixedSuffix = "mixed";
    public const string FixedCostsSuffix = "fixedcosts";

    public bool IsPeer => Scheduler is null;

    /// <summary>Worker options beyond scheduler and pause policy, as the gateway passes them on.</summary>
    public IReadOnlyList<string> ExtraGatewayArgs
    {
        get
        {
            var worker = (DecodeFirst ? "" : " --decode-first off") + (CalibrateCosts ? "" : " --calibrate-costs off");
            return worker.Length == 0 ? [] : ["--Gateway:Workers:ExtraArgs", worker.Trim()];
        }
    }

    /// <summary>
    /// "fcfs+drop,mlfq+adaptive,mlfq+adaptive+mixed,mlfq+adaptive+fixedcosts,llama-server": ours as
    /// scheduler+policy[+mixed][+fixedcosts]; llama-server when <paramref name="allowPeer"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A name that is neither.</exception>
    public static IReadOnlyList<ServerConfig> ParseList(string configs, bool allowPeer = true) =>
        configs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c =>
        {
            if (allowPeer && c == PeerName) return new ServerConfig(c, null, null);
            var parts = c.Split('+');
            var flags = parts.Skip(2).ToList();
            if (parts.Length < 2 || !Serving.Scheduler.SchedulingPolicies.All.Contains(parts[0]) || !Serving.Scheduler.PausePolicies.All.Contains(parts[1])
                || flags.Any(f => f is not (MixedSuffix or FixedCostsSuffix)) || flags.Distinct().Count() != flags.Count)
            {
                var peer = allowPeer ? $", or {PeerName}" : "";
                throw new ArgumentException($"bad configuration '{c}': use scheduler+policy[+{MixedSuffix}][+{FixedCostsSuffix}], e.g. fcfs+drop or mlfq+adaptive{peer}");
            }

            return new ServerConfig(c, parts[0], parts[1], DecodeFirst: !flags.Contains(MixedSuffix), CalibrateCosts: !flags.Contains(FixedCostsSuffix));
        }).ToList();
}

/// <summary>What every server in a comparison gets: workers (ours), slots per worker, context per slot, engine threads.</summary>
public sealed record ServiceShape(int Slots, int ContextPerSlot, int Threads, int Workers = 1)
{
    public IReadOnlyList<string> GatewayArgs =>
        ["--workers", $"{Workers}", "--slots", $"{Slots}", "--ctx-per-slot", $"{ContextPerSlot}", "--threads", $"{Threads}"];

    public string Describe() => $"{Workers} worker × {Slots} slots × {ContextPerSlot} tokens, {Threads} threads";
}
