using System.CommandLine;
using System.Diagnostics;
using Serving.LoadTests.Compare;
using Serving.LoadTests.Replay;
using Serving.LoadTests.Reporting;
using Serving.LoadTests.Probe;
using Serving.LoadTests.Simulation;
using Serving.LoadTests.Soak;
using Serving.LoadTests.Workload;
using Serving.Scheduler.Benchmarks;

namespace Serving.LoadTests;

/// <summary>The command-line surface; each command validates its input and exits 2 with one clear line when it is bad.</summary>
internal static class Commands
{
    private static readonly Option<int> Sessions = new("--sessions") { Description = "sessions to generate", DefaultValueFactory = _ => 20 };
    private static readonly Option<int> Seed = new("--seed") { Description = "random seed", DefaultValueFactory = _ => 1 };
    private static readonly Option<double> Rate = new("--rate") { Description = "session arrivals per second (0 = all at once)", DefaultValueFactory = _ => 1 };
    private static readonly Option<double> PauseScale = new("--pause-scale") { Description = "multiplies tool pauses (1 = trace-like)", DefaultValueFactory = _ => 1 };
    private static readonly Option<double> Turns = new("--turns") { Description = "median turns per session", DefaultValueFactory = _ => 6 };
    private static readonly Option<int> OutputTokens = new("--output-tokens") { Description = "max tokens per answer", DefaultValueFactory = _ => 32 };

    public static Command Generate()
    {
        var output = new Option<string>("--out") { Description = "workload file to write", Required = true };
        var command = new Command("generate", "Generate a seeded agent workload and save it as JSON") { output, Sessions, Seed, Rate, PauseScale, Turns, OutputTokens };
        command.SetAction(p =>
        {
            var workload = WorkloadGenerator.Generate(GeneratorOptions(p));
            workload.Save(p.GetValue(output)!);
            Console.WriteLine($"wrote {p.GetValue(output)}: {workload.Sessions.Count} sessions, {workload.TotalTurns} turns");
            return 0;
        });
        return command;
    }

    public static Command Replay()
    {
        var url = new Option<string>("--url") { Description = "server base URL", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var file = new Option<string>("--workload") { Description = "workload JSON (from generate)", Required = true };
        var apiKey = new Option<string?>("--api-key") { Description = "API key, if the server needs one" };
        var report = new Option<string?>("--report") { Description = "folder for report.md and plots" };
        var limit = new Option<int>("--limit-seconds") { Description = "stop after this long", DefaultValueFactory = _ => 600 };
        var command = new Command("replay", "Replay a workload against a running server") { url, file, apiKey, report, limit };
        command.SetAction(async (p, ct) =>
        {
            AgentWorkload workload;
            try
            {
                workload = AgentWorkload.Load(p.GetValue(file)!);
            }
            catch (WorkloadFileException e)
            {
                return Fail(e.Message);
            }

            using var http = ReplayHarness.CreateClient(p.GetValue(url)!, TimeSpan.FromMinutes(10), p.GetValue(apiKey));
            if (await ReplayHarness.CheckServerAsync(http) is { } problem) return Fail(problem);
            var result = await new ReplayHarness(http, "default", Console.Error).RunAsync("replay", workload, TimeSpan.FromSeconds(p.GetValue(limit)));
            Console.WriteLine(ReportWriter.Table([result]));
            if (p.GetValue(report) is { } folder) Console.WriteLine($"report: {ReportWriter.Write(folder, [result], $"Replay of {p.GetValue(file)} against {p.GetValue(url)}.")}");
            return result.Errors == 0 ? 0 : 1;
        });
        return command;
    }

    public static Command Soak()
    {
        var url = new Option<string>("--url") { Description = "server base URL", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var sessions = new Option<int>("--sessions") { Description = "distinct sessions, one one-token turn each, never final", DefaultValueFactory = _ => 3000 };
        var concurrency = new Option<int>("--concurrency") { Description = "turns in flight at once", DefaultValueFactory = _ => 4 };
        var apiKey = new Option<string?>("--api-key") { Description = "API key, if the server needs one" };
        var limit = new Option<int>("--limit-seconds") { Description = "stop after this long", DefaultValueFactory = _ => 600 };
        var command = new Command("soak", "Many distinct sessions with one short turn each (no X-Session-Final): errors by status and latency") { url, sessions, concurrency, apiKey, limit };
        command.SetAction(async (p, ct) =>
        {
            if (p.GetValue(sessions) < 1 || p.GetValue(concurrency) < 1) return Fail("--sessions and --concurrency must be at least 1");
            using var http = ReplayHarness.CreateClient(p.GetValue(url)!, TimeSpan.FromMinutes(2), p.GetValue(apiKey));
            if (await ReplayHarness.CheckServerAsync(http) is { } problem) return Fail(problem);
            var runId = Guid.NewGuid().ToString("N")[..8];
            var result = await SoakRunner.RunAsync(p.GetValue(sessions), p.GetValue(concurrency), SoakRunner.HttpTurn(http, runId),
                TimeSpan.FromSeconds(p.GetValue(limit)), Console.Error);
            Console.WriteLine(result.Describe());
            return result.Errors == 0 ? 0 : 1;
        });
        return command;
    }

    public static Command PromptTokens()
    {
        var vocabularies = new Option<string>("--vocab") { Description = "comma-separated real tokenizers (llama.cpp's ggml-vocab-NAME.gguf)", DefaultValueFactory = _ => string.Join(',', Compare.PromptTokensCheck.DefaultVocabularies) };
        var output = new Option<string>("--out") { Description = "folder for llama-server's rendered prompts", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "serving-prompt-tokens") };
        var command = new Command("prompt-tokens", "Same prompt as llama-server --jinja? Token counts of a chat and a tool conversation on generated models with real tokenizers and templates")
            { vocabularies, output };
        command.SetAction(async (p, ct) =>
        {
            var paths = RepoPaths.Find();
            if (paths is null) return Fail("build the solution first (scripts/setup.sh Release)");
            if (paths.LlamaServer is null) return Fail(RepoPaths.NoPeer);
            return await Compare.PromptTokensCheck.RunAsync(paths, p.GetValue(vocabularies)!.Split(',', StringSplitOptions.RemoveEmptyEntries), p.GetValue(output)!, ct);
        });
        return command;
    }

    public static Command Probe()
    {
        var urls = new Option<string>("--url") { Description = "comma-separated server base URLs, measured one after the other", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var peer = new Option<bool>("--peer") { Description = "start our service, then llama-server (.peer/bin), each alone, on the same model, slots and threads; print ratios" };
        var model = new Option<string?>("--model") { Description = "GGUF model for --peer; default: the generated 125M model" };
        var threads = new Option<int>("--threads") { Description = "engine threads for --peer (both servers)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var words = new Option<int>("--prompt-words") { Description = "words in the prompt (about four tokens each on the generated model)", DefaultValueFactory = _ => 16 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "max_tokens of each request", DefaultValueFactory = _ => 128 };
        var repeat = new Option<int>("--repeat") { Description = "measured requests per server (after one warm-up)", DefaultValueFactory = _ => 5 };
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds for --peer (each server started afresh per round)", DefaultValueFactory = _ => 2 };
        var apiKey = new Option<string?>("--api-key") { Description = "API key, if the servers need one" };
        var command = new Command("probe", "Stream single requests one at a time; median TTFT and inter-token latency at the client (--peer: ours vs llama-server)")
            { urls, peer, model, threads, words, maxTokens, repeat, rounds, apiKey };
        command.SetAction(async (p, ct) =>
        {
            if (p.GetValue(words) < 1 || p.GetValue(maxTokens) < 1 || p.GetValue(repeat) < 1) return Fail("--prompt-words, --max-tokens and --repeat must be at least 1");
            if (p.GetValue(peer))
            {
                return await ProbeAgainstPeerAsync(p.GetValue(model), p.GetValue(threads), p.GetValue(repeat), Math.Max(1, p.GetValue(rounds)), ct);
            }

            Console.WriteLine("| server | prompt tokens | chunks | TTFT median (ms) | inter-token median (ms) |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (var url in p.GetValue(urls)!.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                using var http = ReplayHarness.CreateClient(url, TimeSpan.FromMinutes(5), p.GetValue(apiKey));
                var m = await StreamProbe.MeasureAsync(http, p.GetValue(words), p.GetValue(maxTokens), p.GetValue(repeat), Random.Shared.Next(), ct);
                Console.WriteLine($"| {url} | {m.PromptTokens?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} | {m.Chunks:F0} | {m.TtftMs:F1} | {m.ItlMs:F2} |");
            }

            return 0;
        });
        return command;
    }

    /// <summary>
    /// The same two probes (a short prompt with 128 tokens out; a ~1k-token prompt with one token out) on each server,
    /// alone on the machine, alternating servers for <paramref name="rounds"/> rounds so drift of a noisy host hits both;
    /// medians of the pooled samples. For ours, CPU per generated token from the services' own metrics.
    /// </summary>
    private static async Task<int> ProbeAgainstPeerAsync(string? modelPath, int threads, int repeat, int rounds, CancellationToken ct)
    {
        var paths = RepoPaths.Find();
        if (paths is null) return Fail("build the solution first (scripts/setup.sh Release)");
        if (paths.LlamaServer is null) return Fail(RepoPaths.NoPeer);
        var model = modelPath ?? paths.EnsureModel("base125m");
        var shape = new ServiceShape(Slots: 8, ContextPerSlot: 2048, Threads: threads);
        var runner = new CompareRunner(paths.GatewayDll, paths.WorkerDll, paths.LlamaServer, model, shape, Console.Error);
        var configs = ServerConfig.ParseList($"mlfq+adaptive,{ServerConfig.PeerName}");
        var samples = new Dictionary<string, (List<ProbeSample> Short, List<ProbeSample> Long)> { ["ours"] = ([], []), ["llama-server"] = ([], []) };
        var cpu = new List<PerTokenCpu>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var server in samples.Keys)
            {
                Console.Error.WriteLine($"== round {round + 1}/{rounds}, {server}: {shape.Describe()}, alone on the machine");
                await using var service = await runner.StartServerAsync(configs[server == "ours" ? 0 : 1]);
                using var http = ReplayHarness.CreateClient(service.Url, TimeSpan.FromMinutes(5));
                var seed = Random.Shared.Next();
                var before = server == "ours" ? await PerTokenCpu.ScrapeAsync(http) : null;
                samples[server].Short.AddRange(await StreamProbe.SampleAsync(http, 16, 128, repeat, seed, ct));
                if (before is not null)
                {
                    cpu.Add(PerTokenCpu.Between(before, await PerTokenCpu.ScrapeAsync(http)));
                }

                samples[server].Long.AddRange(await StreamProbe.SampleAsync(http, 330, 1, repeat, seed, ct));
            }
        }

        var (ours, peer) = (samples["ours"], samples["llama-server"]);
        var (os, ps, ol, pl) = (StreamProbe.Summarize(ours.Short), StreamProbe.Summarize(peer.Short), StreamProbe.Summarize(ours.Long), StreamProbe.Summarize(peer.Long));
        Console.WriteLine($"One streamed request at a time, {rounds} alternating rounds × {repeat} requests per server; medians; ratio = ours / llama-server (lower is better).");
        Console.WriteLine();
        Console.WriteLine("| measure | ours | llama-server | ratio |");
        Console.WriteLine("|---|---|---|---|");
        void Row(string name, double a, double b) => Console.WriteLine($"| {name} | {a:F1} | {b:F1} | {a / b:F2} |");
        Row($"TTFT, {os.PromptTokens}-token prompt (ms)", os.TtftMs, ps.TtftMs);
        Row($"mean inter-token latency, {os.Chunks:F0} tokens out (ms)", os.ItlMs, ps.ItlMs);
        Row($"TTFT, {ol.PromptTokens}-token prompt (ms)", ol.TtftMs, pl.TtftMs);
        var c = PerTokenCpu.Sum(cpu);
        Console.WriteLine();
        Console.WriteLine($"Ours, per generated token (short-prompt requests, {c.Tokens:F0} tokens): llama_decode {c.DecodeUs:F0} µs; engine thread outside " +
                          $"llama_decode {c.EngineOtherUs:F0} µs (plan, sampling, text, streaming, bookkeeping); worker process CPU {c.WorkerCpuUs:F0} µs " +
                          $"(llama.cpp's {threads} threads included); gateway process CPU {c.GatewayCpuUs:F0} µs (proxying the SSE stream).");
        return 0;
    }

    public static Command Simulate()
    {
        var sessions = new Option<int>("--sessions") { Description = "sessions in total", DefaultValueFactory = _ => 100_000 };
        var workers = new Option<int>("--workers") { Description = "simulated workers", DefaultValueFactory = _ => 256 };
        var configs = new Option<string>("--configs") { Description = "policy combinations; the first is the reference for ratios", DefaultValueFactory = _ => "mlfq+adaptive,fcfs+drop,mlfq+drop,mlfq+keep,mlfq+ttl" };
        var rate = new Option<double>("--rate-per-worker") { Description = "session arrivals per second per worker", DefaultValueFactory = _ => new SimulationOptions().ArrivalRatePerWorker };
        var service = new Option<string?>("--service-thresholds") { Description = "attained-service level thresholds in tokens, e.g. 1024,2048,4096; 'off' for none; default: the scheduler's" };
        var profile = new Option<string?>("--profile")
        {
            Description = "agent: compare's agent profile (one worker, 24 sessions; --sessions, --workers and --rate-per-worker still apply when given)",
        };
        var seeds = new Option<int>("--seeds") { Description = "workloads to pool (seeds --seed, --seed + 1, …)", DefaultValueFactory = _ => 1 };
        var command = new Command("simulate", "Simulate many workers on the scheduler and the engine cost model (virtual time); exits 1 if any session did not finish")
            { sessions, workers, configs, Seed, rate, service, profile, seeds };
        command.SetAction(p =>
        {
            if (p.GetValue(sessions) < 1 || p.GetValue(workers) < 1) return Fail("--sessions and --workers must be positive");
            IReadOnlyList<ServerConfig> list;
            try
            {
                list = ServerConfig.ParseList(p.GetValue(configs)!, allowPeer: false);
            }
            catch (ArgumentException e)
            {
                return Fail(e.Message);
            }

            if (!(p.GetValue(rate) > 0)) return Fail("--rate-per-worker must be positive");
            var scheduler = new Serving.Scheduler.SchedulerOptions();
            if (p.GetValue(service) is { } text)
            {
                var parsed = text == "off" ? [] : text.Split(',').Select(x => int.TryParse(x, out var v) ? v : -1).ToList();
                scheduler = scheduler with { ServiceThresholds = parsed };
                if (parsed.Any(v => v < 0) || scheduler.Validate() is { Count: > 0 }) return Fail($"bad --service-thresholds '{text}': increasing token counts, e.g. 1024,2048,4096, or off");
            }

            if (p.GetValue(profile) is { } name && name != "agent") return Fail($"unknown --profile '{name}' (expected agent)");
            if (p.GetValue(seeds) < 1) return Fail("--seeds must be positive");
            var baseline = p.GetValue(profile) is null ? new SimulationOptions() : SimulationOptions.AgentProfile;
            // The profile's own sizes, unless the option was given on the command line.
            T Pick<T>(Option<T> option, T profileValue) => p.GetValue(profile) is not null && p.GetResult(option) is null or { Implicit: true } ? profileValue : p.GetValue(option)!;
            var options = baseline with
            {
                Sessions = Pick(sessions, baseline.Sessions), Workers = Pick(workers, baseline.Workers),
                ArrivalRatePerWorker = Pick(rate, baseline.ArrivalRatePerWorker), Seed = p.GetValue(Seed), Scheduler = scheduler,
            };
            var simulator = new Simulator(options);
            var started = Stopwatch.StartNew();
            // Configurations are independent single-threaded simulations: run them side by side on all cores.
            var results = list.AsParallel().AsOrdered().WithDegreeOfParallelism(Environment.ProcessorCount).Select(c =>
            {
                var r = simulator.Run(c, p.GetValue(seeds));
                Console.Error.WriteLine($"{r.Name}: {r.Steps:N0} engine steps, {r.VirtualSeconds:F0} virtual s, {r.Wall.TotalSeconds:F1} s wall");
                return r;
            }).ToList();
            Console.WriteLine(SimulationTable.Format(results, options.Sessions * p.GetValue(seeds), options.Workers, started.Elapsed));
            return results.Any(r => r.Unfinished > 0) ? 1 : 0;
        });
        return command;
    }

    public static Command BenchScheduler()
    {
        var command = new Command("bench-scheduler", "Scheduler decision time per step with 10,000 live sessions");
        command.SetAction(_ =>
        {
            SchedulerBenchmark.Run(Console.Out);
            return 0;
        });
        return command;
    }

    private static WorkloadOptions GeneratorOptions(ParseResult p) => new()
    {
        Sessions = p.GetValue(Sessions), Seed = p.GetValue(Seed), ArrivalRate = p.GetValue(Rate), PauseScale = p.GetValue(PauseScale),
        TurnsMedian = p.GetValue(Turns), OutputTokens = p.GetValue(OutputTokens),
    };

    internal static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }
}
