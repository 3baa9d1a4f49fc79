using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Compare;

/// <summary>A named comparison setup: the workload, the generated model and the shape every server gets.</summary>
public sealed record CompareProfile(string Name, WorkloadOptions Workload, string ModelKind, ServiceShape Shape, TimeSpan LimitPerRun)
{
    /// <summary>
    /// The default agent workload: 24 sessions of up to 6 turns, trace-shaped tool pauses; one worker with 8 slots of
    /// 4096 tokens on the 125M model with Qwen2.5's tokenizer (one filler word ≈ one token: system prompt ≈ 375
    /// tokens, task ≈ 150, tool results ≈ 200, answers 32). A real tokenizer keeps the model's answers at their own
    /// size in the next prompt: with our small generated vocabulary a random model's 32 tokens came back as ≈ 290
    /// tokens of text (its filler pieces), which made every turn's prefill mostly re-reading its previous answer.
    /// </summary>
    public static readonly CompareProfile Agent = new("agent",
        new WorkloadOptions { Sessions = 24, ArrivalRate = 0.2, TurnsMedian = 4, MaxTurns = 6, SystemPromptTokens = 375, TaskTokens = 150, ToolResultTokens = 200 },
        "base125m-qwen2", new ServiceShape(8, 4096, Environment.ProcessorCount), TimeSpan.FromMinutes(10));

    /// <summary>A small run on the 125M model in under two minutes.</summary>
    public static readonly CompareProfile Quick = new("quick",
        new WorkloadOptions
        {
            Sessions = 8, ArrivalRate = 1, TurnsMedian = 3, MaxTurns = 5, SystemPromptTokens = 375, TaskTokens = 150,
            ToolResultTokens = 150, OutputTokens = 16, PauseScale = 0.3,
        },
        "base125m-qwen2", new ServiceShape(4, 4096, Environment.ProcessorCount), TimeSpan.FromMinutes(3));

    /// <summary>Seconds on the tiny model: the CI smoke test.</summary>
    public static readonly CompareProfile Smoke = new("smoke",
        new WorkloadOptions
        {
            Sessions = 6, ArrivalRate = 0, TurnsMedian = 3, MaxTurns = 4, SystemPromptTokens = 40, TaskTokens = 20,
            ToolResultTokens = 20, OutputTokens = 8, PauseScale = 0.01,
        },
        "tiny", new ServiceShape(4, 4096, 1), TimeSpan.FromMinutes(2));

    public static IReadOnlyList<CompareProfile> All { get; } = [Agent, Quick, Smoke];
}
