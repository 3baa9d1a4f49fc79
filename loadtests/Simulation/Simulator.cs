using Serving.LoadTests.Compare;
using System.Diagnostics;
using Serving.LoadTests.Reporting;
using Serving.LoadTests.Workload;
using Serving.Scheduler;
using Serving.Scheduler.Contracts;
using Serving.Scheduler.Costs;

namespace Serving.LoadTests.Simulation;

public sealed record SimulationOptions
{
    public int Sessions { get; init; } = 100_000;
    public int Workers { get; init; } = 256;
    public int Seed { get; init; } = 1;
    public int SlotsPerWorker { get; init; } = 8;
    public int ContextPerSlot { get; init; } = 8192;

    /// <summary>Session arrivals per second per worker (Poisson).</summary>
    public double ArrivalRatePerWorker { get; init; } = 0.16;
    public double TurnsMedian { get; init; } = 6;
    public int MaxTurns { get; init; } = 20;
    public int SystemPromptTokens { get; init; } = 300;
    public int TaskTokens { get; init; } = 600;
    public int ToolResultTokens { get; init; } = 300;
    public int OutputTokens { get; init; } = 16;

    /// <summary>Scheduler settings of every worker; the configuration sets its scheduling and pause policy.</summary>
    public SchedulerOptions Scheduler { get; init; } = new();

    /// <summary>Engine time; the default is the 125M model with our small vocabulary.</summary>
    public EngineCostModel Costs { get; init; } = new();

    /// <summary>
    /// The <c>compare</c> agent profile in virtual time: one worker, 8 slots × 4096 tokens, 24 sessions of up to 6
    /// turns, the prompt sizes its Qwen2.5 rendering has (system prompt and tool definitions ≈ 760 tokens, task ≈ 165,
    /// tool result and its wrapping ≈ 250, answers 32). Engine costs: llama.cpp's own benchmarks of that model
    /// (llama-bench prefill at depth; llama-batched-bench decode, 14.3 ms per step alone and 48 ms for 8 sequences at
    /// 1.5K tokens of context, its 152K-token output layer included) × 1.8 — the factor at which the simulation
    /// reproduces the service's measured means (2026-11-23 sweep: 36.9 s at 0.3 sessions/s, 51.7 s at 0.9; simulated
    /// over 20 seeds 34.4 and 52.8 s). Scheduling ideas are tried here first: a real run on this machine moves ±15 %.
    /// </summary>
    public static SimulationOptions AgentProfile { get; } = new()
    {
        Sessions = 24, Workers = 1, SlotsPerWorker = 8, ContextPerSlot = 4096, ArrivalRatePerWorker = 0.9, TurnsMedian = 4, MaxTurns = 6,
        SystemPromptTokens = 760, TaskTokens = 165, ToolResultTokens = 250, OutputTokens = 32,
        Costs = new EngineCostModel
        {
            PrefillTokensPerSecond = 1600 / 1.8, PrefillPerContextTokenMs = 0.00042 * 1.8,
            DecodeStepFixedMs = 6.9 * 1.8, DecodePerSequenceMs = 2.6 * 1.8, DecodePerContextTokenMs = 0.002 * 1.8,
        },
    };
}

/// <param name="Unfinished">Sessions that arrived but never finished: a stuck session shows here, never silently.</param>
public sealed record SimulationResult(string Name, Summary Completion, Summary Ttft, double SessionsPerMinute, double OutputTokensPerSecond, long Steps,
    double VirtualSeconds, TimeSpan Wall, int Unfinished);

/// <summary>
/// A discrete-event simulation of many workers, each with a real <see cref="IAgentScheduler"/> and engine time from
/// <see cref="EngineCostModel"/>: sessions arrive (Poisson), go to the least-loaded worker and stick to it, run their
/// turns closed-loop with heavy-tailed tool pauses. Virtual time only: nothing sleeps, no threads.
/// </summary>
public sealed class Simulator(SimulationOptions options)
{
    /// <summary>
    /// Runs the configuration on <paramref name="seeds"/> workloads (seeds <c>Seed</c>, <c>Seed + 1</c>, …) and pools
    /// their sessions: a small profile's 24 sessions say little alone.
    /// </summary>
    public SimulationResult Run(ServerConfig config, int seeds = 1)
    {
        var wall = Stopwatch.StartNew();
        var runs = Enumerable.Range(0, seeds).Select(i =>
        {
            var run = new SimulationRun(options with { Seed = options.Seed + i }, config);
            run.Execute();
            return run;
        }).ToList();
        var completions = runs.SelectMany(r => r.Completions).ToList();
        var seconds = runs.Sum(r => r.Clock.Seconds);
        return new SimulationResult(config.Name, Summary.Of(completions), Summary.Of([.. runs.SelectMany(r => r.Ttfts)]),
            completions.Count / (seconds / 60), runs.Sum(r => r.OutputTokens) / seconds, runs.Sum(r => r.Steps), seconds, wall.Elapsed,
            options.Sessions * seeds - completions.Count);
    }

    /// <summary>A settable clock: the simulation moves it to each event's time before the schedulers look.</summary>
    internal sealed class VirtualClock : TimeProvider
    {
        private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public double Seconds { get; set; }
        public override DateTimeOffset GetUtcNow() => Origin + TimeSpan.FromSeconds(Seconds);
    }

    /// <param name="content">The session's own random stream for tool-result tokens: drawn while steps complete, so a
    /// shared stream would give each configuration a different workload.</param>
    private sealed class SimSession(int index, int worker, double arrival, List<int> context, List<(string Tool, double Pause, int ToolTokens)> turns, Random content)
    {
        public Random Content { get; } = content;
        public int Index { get; } = index;
        public int Worker { get; } = worker;
        public double Arrival { get; } = arrival;
        public List<int> Context { get; } = context;
        public List<(string Tool, double Pause, int ToolTokens)> Turns { get; } = turns;
        public int Turn { get; set; }
        public double SubmittedAt { get; set; }
        public int Generated { get; set; }
        public string Key => "s" + Index;
        public string RequestId => $"s{Index}t{Turn}";
    }

    private sealed class SimWorker(IAgentScheduler scheduler)
    {
        public IAgentScheduler Scheduler { get; } = scheduler;
        public BatchPlan? Running { get; set; }
        public int ActiveSessions { get; set; }
        public Dictionary<string, SimSession> ByRequest { get; } = [];

        /// <summary>Turns the worker refused (queue full), waiting at the gateway in arrival order.</summary>
        public Queue<SimSession> Refused { get; } = new();
    }

    private sealed class SimulationRun
    {
        private readonly SimulationOptions _o;
        private readonly EngineCostModel _costs;
        private readonly SimWorker[] _workers;
        private readonly PriorityQueue<Action, (double, long)> _events = new();
        private readonly Random _random;
        private readonly int[] _systemPrompt;
        /// <summary>KV tokens each session holds, for the cost of parking and restoring it.</summary>
        private readonly Dictionary<string, int> _kvTokens = [];
        private long _sequence;
        private int _arrived;

        public SimulationRun(SimulationOptions o, ServerConfig config)
        {
            _o = o;
            _costs = o.Costs;
            _random = new Random(o.Seed);
            _systemPrompt = Enumerable.Range(0, o.SystemPromptTokens).Select(i => 10 + i).ToArray();
            // Default queue bounds, as a real worker has: an overloaded worker refuses turns and the agent retries later.
            var schedulerOptions = o.Scheduler with { Scheduling = config.Scheduler!, PausePolicy = config.Pause!, DecodeFirst = config.DecodeFirst };
            var shape = new EngineShape(o.SlotsPerWorker, o.ContextPerSlot, 512);
            _workers = Enumerable.Range(0, o.Workers).Select(_ => new SimWorker(AgentSchedulerFactory.Create(schedulerOptions, shape, Clock, _costs))).ToArray();
        }

        public VirtualClock Clock { get; } = new();
        public List<double> Completions { get; } = [];
        public List<double> Ttfts { get; } = [];
        public long OutputTokens { get; private set; }
        public long Steps { get; private set; }

        public void Execute()
        {
            At(NextArrivalGap(), Arrive);
            while (_events.TryDequeue(out var action, out var when))
            {
                Clock.Seconds = when.Item1;
                action();
            }
        }

        private void At(double time, Action action) => _events.Enqueue(action, (time, _sequence++));

        private double NextArrivalGap() => Clock.Seconds - Math.Log(1 - _random.NextDouble()) / (_o.ArrivalRatePerWorker * _o.Workers);

        private void Arrive()
        {
            var index = _arrived++;
            if (_arrived < _o.Sessions)
            {
                At(NextArrivalGap(), Arrive);
            }

            var worker = Array.IndexOf(_workers, _workers.MinBy(w => w.ActiveSessions));
            var turns = Math.Clamp((int)Math.Round(WorkloadGenerator.LogNormal(_random, _o.TurnsMedian, 0.6)), 1, _o.MaxTurns);
            var plan = Enumerable.Range(0, turns).Select(t => t == 0 ? ("", 0.0, 0) : WithTokens(WorkloadGenerator.DrawPause(_random))).ToList();
            var context = new List<int>(_systemPrompt);
            context.AddRange(Enumerable.Range(0, _o.TaskTokens).Select(_ => _random.Next(400, 30000)));
            var session = new SimSession(index, worker, Clock.Seconds, context, plan, new Random(_random.Next()));
            _workers[worker].ActiveSessions++;
            Submit(session);
        }

        private (string, double, int) WithTokens((string Tool, double Seconds) pause) =>
            (pause.Tool, pause.Seconds, (int)WorkloadGenerator.LogNormal(_random, _o.ToolResultTokens, 0.5));

        private void Submit(SimSession session)
        {
            var worker = _workers[session.Worker];
            var last = session.Turn == session.Turns.Count - 1;
            if (session.Context.Count + _o.OutputTokens > _o.ContextPerSlot)
            {
                Finish(session); // the context is full: the agent stops here, as a real one would have to
                worker.Scheduler.EndSession(session.Key);
                return;
            }

            session.SubmittedAt = Clock.Seconds;
            session.Generated = 0;
            // One tenant: every session starts with the same system prompt, which a new session may copy from a resident one.
            var result = worker.Scheduler.Submit(new TurnRequest(session.RequestId, session.Key, [.. session.Context], _o.OutputTokens, last, null, "tenant"));
            if (result.Outcome == SubmitOutcome.Rejected)
            {
                // Like the gateway's admission queue: wait until the worker finishes something, then try again
                // (polling every Retry-After second would flood the event queue of an overloaded run).
                worker.Refused.Enqueue(session);
                return;
            }

            worker.ByRequest[session.RequestId] = session;
            Kick(worker);
        }

        /// <summary>Starts the worker's next step unless one is running; an idle worker with nothing to do sleeps.</summary>
        private void Kick(SimWorker worker)
        {
            if (worker.Running is not null)
            {
                return;
            }

            var plan = worker.Scheduler.PlanStep();
            if (plan.IsEmpty)
            {
                return;
            }

            worker.Running = plan;
            Steps++;
            At(Clock.Seconds + StepCost(worker, plan).TotalSeconds, () => StepDone(worker));
        }

        private TimeSpan StepCost(SimWorker worker, BatchPlan plan)
        {
            var memory = TimeSpan.Zero;
            foreach (var op in plan.MemoryOps)
            {
                var tokens = _kvTokens.GetValueOrDefault(op.SessionKey);
                // A copy moves a whole donor sequence (its length is not tracked here: assume half a slot).
                memory += op switch { ParkOp => _costs.Park(tokens), RestoreOp => _costs.Restore(tokens), CopyOp => _costs.Park(_o.ContextPerSlot / 2), _ => TimeSpan.Zero };
            }

            return memory + _costs.Step(plan.Chunks.Select(c => (c.Tokens.Length, (long)c.StartPosition, c.IsDecode)));
        }

        private void StepDone(SimWorker worker)
        {
            var plan = worker.Running!;
            worker.Running = null;
            var progress = new List<TurnProgress>();
            var finished = new List<SimSession>();
            foreach (var chunk in plan.Chunks.Where(c => c.WantLogits))
            {
                if (!worker.ByRequest.TryGetValue(chunk.RequestId, out var session)) continue;
                if (++session.Generated == 1) Ttfts.Add(Clock.Seconds - session.SubmittedAt);
                OutputTokens++;
                var done = session.Generated >= _o.OutputTokens;
                var nextTool = session.Turn + 1 < session.Turns.Count ? session.Turns[session.Turn + 1].Tool : null;
                progress.Add(new TurnProgress(chunk.RequestId, 7, done ? TurnState.Finished : TurnState.Running, done && nextTool is not null, nextTool));
                if (done) finished.Add(session);
            }

            var memory = plan.MemoryOps.Select(op => new MemoryOpResult(op, true, TimeSpan.Zero, 0)).ToList();
            worker.Scheduler.Complete(plan, new StepResult(progress, memory, TimeSpan.Zero));
            foreach (var session in finished)
            {
                worker.ByRequest.Remove(session.RequestId);
                session.Context.AddRange(Enumerable.Repeat(7, _o.OutputTokens));
                _kvTokens[session.Key] = session.Context.Count;
                if (++session.Turn >= session.Turns.Count)
                {
                    Finish(session);
                    continue;
                }

                var (_, pause, toolTokens) = session.Turns[session.Turn];
                session.Context.AddRange(Enumerable.Range(0, toolTokens).Select(_ => session.Content.Next(400, 30000)));
                At(Clock.Seconds + pause, () => Submit(session));
            }

            RetryRefused(worker, finished.Count);
            Kick(worker);
        }

        /// <summary>Each finished turn makes room for one refused turn (first come, first served).</summary>
        private void RetryRefused(SimWorker worker, int room)
        {
            for (var i = 0; i < room && worker.Refused.TryDequeue(out var session); i++)
            {
                Submit(session);
            }
        }

        private void Finish(SimSession session)
        {
            Completions.Add(Clock.Seconds - session.Arrival);
            _workers[session.Worker].ActiveSessions--;
            _kvTokens.Remove(session.Key);
        }
    }
}
