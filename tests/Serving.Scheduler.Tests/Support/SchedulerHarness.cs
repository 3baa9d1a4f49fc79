using Microsoft.Extensions.Time.Testing;
using Serving.Scheduler.Contracts;

namespace Serving.Scheduler.Tests.Support;

/// <summary>
/// Drives a scheduler the way the worker does, with a hand-written engine stand-in: each chunk that wants logits
/// "samples" token 7, and a turn finishes after its MaxNewTokens; a step takes the default cost model's time. Every memory op succeeds unless told otherwise.
/// </summary>
internal sealed class SchedulerHarness
{
    public SchedulerHarness(SchedulerOptions? options = null, int slots = 4, int contextPerSlot = 4096, int batch = 512)
    {
        Options = options ?? new SchedulerOptions();
        Scheduler = AgentSchedulerFactory.Create(Options, new EngineShape(slots, contextPerSlot, batch), Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public SchedulerOptions Options { get; }

    public IAgentScheduler Scheduler { get; }

    public Dictionary<string, int> Generated { get; } = [];

    public Dictionary<string, int> MaxTokens { get; } = [];

    public HashSet<Type> FailingOps { get; } = [];

    /// <summary>How many times slower than the default cost model the stand-in engine runs decode steps.</summary>
    public double DecodeSlowdown { get; set; } = 1;

    public static int[] Tokens(int count, int start = 100) => Enumerable.Range(start, count).ToArray();

    public SubmitResult Submit(string id, string session, int[] prompt, int maxNew = 3, bool final = false, double? hintMs = null, string? scope = null)
    {
        MaxTokens[id] = maxNew;
        return Scheduler.Submit(new TurnRequest(id, session, prompt, maxNew, final, hintMs, scope));
    }

    /// <summary>One step: plan, "run" it, complete it. Returns the plan.</summary>
    public BatchPlan Step(string? toolCallFor = null)
    {
        var plan = Scheduler.PlanStep();
        var memory = plan.MemoryOps.Select(op => new MemoryOpResult(op, !FailingOps.Contains(op.GetType()), TimeSpan.Zero, 1000)).ToList();
        var progress = new List<TurnProgress>();
        foreach (var chunk in plan.Chunks.Where(c => c.WantLogits))
        {
            var n = Generated[chunk.RequestId] = Generated.GetValueOrDefault(chunk.RequestId) + 1;
            var finished = n >= MaxTokens[chunk.RequestId];
            progress.Add(new TurnProgress(chunk.RequestId, 7, finished ? TurnState.Finished : TurnState.Running,
                finished && toolCallFor == chunk.RequestId, finished && toolCallFor == chunk.RequestId ? "bash" : null));
        }

        // The step takes what the default cost model says (decodes times DecodeSlowdown).
        var (decode, prefill) = new Serving.Scheduler.Costs.EngineCostModel().Split(plan.Chunks.Select(c => (c.Tokens.Length, (long)c.StartPosition, c.IsDecode)));
        Scheduler.Complete(plan, new StepResult(progress, memory, decode * DecodeSlowdown + prefill));
        return plan;
    }

    /// <summary>Steps until the turn has finished (bounded, so a scheduling bug fails instead of hanging).</summary>
    public List<BatchPlan> RunUntilDone(string id, int maxSteps = 200)
    {
        var plans = new List<BatchPlan>();
        for (var i = 0; i < maxSteps && (!Generated.TryGetValue(id, out var n) || n < MaxTokens[id]); i++)
        {
            plans.Add(Step());
        }

        Assert.True(Generated.GetValueOrDefault(id) >= MaxTokens[id], $"{id} did not finish in {maxSteps} steps");
        return plans;
    }

    public static PlannedChunk FirstChunk(IEnumerable<BatchPlan> plans, string id) => plans.SelectMany(p => p.Chunks).First(c => c.RequestId == id);
}
