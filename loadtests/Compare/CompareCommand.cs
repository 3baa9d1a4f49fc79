using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Serving.LoadTests.Replay;
using Serving.LoadTests.Reporting;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Compare;

/// <summary>
/// <c>compare</c>: every configuration (ours and llama.cpp's server) started afresh and alone on the machine, the same
/// workload replayed against each; with <c>--rates</c>, the same sessions at each arrival rate, for a latency–load curve.
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var configs = new Option<string?>("--configs")
        {
            Description = $"comma-separated servers, the first is the baseline for ratios: scheduler+policy (ours) or {ServerConfig.PeerName}; " +
                          $"default {ServerConfig.PeerName},mlfq+adaptive (fcfs+drop,mlfq+adaptive without .peer/)",
        };
        var file = new Option<string?>("--workload") { Description = "workload JSON; default: generated from the profile" };
        var model = new Option<string?>("--model") { Description = "GGUF model; default: the profile's generated model" };
        var report = new Option<string>("--report") { Description = "report folder", DefaultValueFactory = _ => "loadtests/reports/latest" };
        var profile = new Option<string>("--profile")
        {
            Description = "agent (24 sessions, 8 slots, the 125M model), quick (< 2 min) or smoke (tiny model, seconds)", DefaultValueFactory = _ => "agent",
        };
        var rates = new Option<string?>("--rates") { Description = "comma-separated session arrival rates (per second) to sweep; default: the profile's" };
        var slots = new Option<int?>("--slots") { Description = "slots (parallel sequences) per server; default: the profile's" };
        var threads = new Option<int?>("--threads") { Description = "engine threads per server; default: the profile's" };
        var rounds = new Option<int>("--rounds")
        {
            Description = "runs of every configuration per rate, alternating (this host drifts by 10-20 % within minutes); the report pools them and lists each round's ratio",
            DefaultValueFactory = _ => 1,
        };
        var command = new Command("compare", "Start each server afresh, replay the same workload (at each --rates rate), write a report with ratios and the load curve")
            { configs, file, model, report, profile, rates, slots, threads, rounds };
        command.SetAction(async (p, ct) =>
        {
            var paths = RepoPaths.Find();
            if (paths is null) return Commands.Fail("cannot find the built gateway and worker (run ./test.sh or scripts/setup.sh first)");
            if (CompareProfile.All.FirstOrDefault(x => x.Name == p.GetValue(profile)) is not { } chosen)
            {
                return Commands.Fail($"unknown profile '{p.GetValue(profile)}' (expected {string.Join(", ", CompareProfile.All.Select(x => x.Name))})");
            }

            IReadOnlyList<ServerConfig> list;
            IReadOnlyList<double> rateList;
            AgentWorkload? fixedWorkload;
            try
            {
                var defaultConfigs = paths.LlamaServer is null ? "fcfs+drop,mlfq+adaptive" : $"{ServerConfig.PeerName},mlfq+adaptive";
                list = ServerConfig.ParseList(p.GetValue(configs) ?? defaultConfigs);
                rateList = ParseRates(p.GetValue(rates)) ?? [chosen.Workload.ArrivalRate];
                fixedWorkload = p.GetValue(file) is { } path ? AgentWorkload.Load(path) : null;
            }
            catch (Exception e) when (e is ArgumentException or WorkloadFileException)
            {
                return Commands.Fail(e.Message);
            }

            if (fixedWorkload is not null && p.GetValue(rates) is not null) return Commands.Fail("--rates needs a generated workload (leave out --workload)");
            if (list.Any(c => c.IsPeer) && paths.LlamaServer is null) return Commands.Fail(RepoPaths.NoPeer);
            var shape = chosen.Shape with { Slots = p.GetValue(slots) ?? chosen.Shape.Slots, Threads = p.GetValue(threads) ?? chosen.Shape.Threads };
            if (shape.Slots < 1 || shape.Threads < 1) return Commands.Fail("--slots and --threads must be at least 1");
            var roundCount = p.GetValue(rounds);
            if (roundCount is < 1 or > 20) return Commands.Fail("--rounds must be 1..20");
            var modelPath = p.GetValue(model) ?? paths.EnsureModel(chosen.ModelKind);
            if (!File.Exists(modelPath)) return Commands.Fail($"model file not found: {modelPath}");

            var started = Stopwatch.StartNew();
            // A model of its own (--model) renders with its own template on both servers; the generated ones (plain
            // ChatML) are given Qwen2.5's tool template on both (RepoPaths.PeerToolTemplate): the same prompt tokens.
            var peerTemplate = p.GetValue(model) is null ? paths.PeerToolTemplate : null;
            var runner = new CompareRunner(paths.GatewayDll, paths.WorkerDll, paths.LlamaServer, modelPath, shape, Console.Error, peerTemplate)
            {
                MetricsFolder = Path.Combine(p.GetValue(report)!, "metrics"),
            };
            var points = new List<LoadPoint>();
            foreach (var rate in rateList)
            {
                var workload = fixedWorkload ?? WorkloadGenerator.Generate(chosen.Workload with { ArrivalRate = rate });
                var runs = new List<IReadOnlyList<ReplayResult>>();
                for (var round = 0; round < roundCount; round++)
                {
                    Console.Error.WriteLine($"=== arrival rate {rate.ToString(CultureInfo.InvariantCulture)} sessions/s, round {round + 1}/{roundCount}");
                    runs.Add(await runner.RunAsync(workload, list, chosen.LimitPerRun, round, $"{rate.ToString(CultureInfo.InvariantCulture)}-r{round + 1}"));
                }

                points.Add(LoadPoint.Of(rate, runs));
            }

            var sample = fixedWorkload ?? WorkloadGenerator.Generate(chosen.Workload);
            var description = $"Profile `{chosen.Name}`: {sample.Sessions.Count} sessions, {sample.TotalTurns} turns, model `{Path.GetFileName(modelPath)}`, " +
                              $"{shape.Describe()}, {Environment.ProcessorCount} cores; every server started afresh and alone; total wall time {started.Elapsed.TotalSeconds:F0} s.";
            if (roundCount > 1) description += $" {roundCount} rounds per rate, configurations alternating; each row pools the rounds' sessions.";
            var single = points.Count == 1 && roundCount == 1;
            var written = single
                ? ReportWriter.Write(p.GetValue(report)!, points[0].Results, description)
                : LoadCurveReport.Write(p.GetValue(report)!, points, description);
            Console.WriteLine(single ? ReportWriter.Table(points[0].Results) : LoadCurveReport.Table(points));
            Console.WriteLine($"report: {written}");
            return points.All(x => x.Results.All(r => r.Errors == 0)) ? 0 : 1;
        });
        return command;
    }

    /// <exception cref="ArgumentException">A rate that is not a positive number.</exception>
    private static List<double>? ParseRates(string? text)
    {
        if (text is null) return null;
        var rates = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r =>
            double.TryParse(r, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v) ? v : throw new ArgumentException($"bad rate '{r}': use positive numbers, e.g. --rates 0.1,0.3,0.45")).ToList();
        return rates.Count > 0 ? rates : throw new ArgumentException("--rates needs at least one rate");
    }
}

/// <summary>
/// Every configuration's result at one session arrival rate: <see cref="Results"/> pools the rounds (one per
/// configuration, in configuration order), <see cref="Rounds"/> keeps each round's own results for paired ratios.
/// </summary>
public sealed record LoadPoint(double Rate, IReadOnlyList<ReplayResult> Results, IReadOnlyList<IReadOnlyList<ReplayResult>> Rounds)
{
    /// <param name="rounds">Each round's results in configuration order.</param>
    public static LoadPoint Of(double rate, IReadOnlyList<IReadOnlyList<ReplayResult>> rounds) =>
        new(rate, rounds[0].Select((_, config) => ReplayResult.Pool(rounds.Select(r => r[config]).ToList())).ToList(), rounds);

    /// <summary>Mean session completion of configuration <paramref name="config"/> over the baseline's, round by round.</summary>
    public IReadOnlyList<double> RoundRatios(int config) =>
        Rounds.Select(r => Summary.Completion(r[config]).Mean / Summary.Completion(r[0]).Mean).ToList();
}
