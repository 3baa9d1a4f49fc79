namespace Serving.Scheduler;

/// <summary>Scheduling policy names (configuration values).</summary>
public static class SchedulingPolicies
{
    /// <summary>Multilevel feedback queue (MARS).</summary>
    public const string Mlfq = "mlfq";

    /// <summary>First come, first served, no levels: the baseline.</summary>
    public const string Fcfs = "fcfs";

    public static readonly IReadOnlyList<string> All = [Mlfq, Fcfs];
}

/// <summary>Tool-pause policy names (configuration values).</summary>
public static class PausePolicies
{
    /// <summary>Free the KV when the pause starts; recompute on return (vLLM-like baseline).</summary>
    public const string Drop = "drop";

    /// <summary>Stay resident; when a slot is needed the idlest paused session is dropped.</summary>
    public const string Keep = "keep";

    /// <summary>Continuum: stay resident for a fixed time-to-live, then drop.</summary>
    public const string Ttl = "ttl";

    /// <summary>Ours: predict the pause, keep short ones, park long ones, park (not drop) under pressure.</summary>
    public const string Adaptive = "adaptive";

    public static readonly IReadOnlyList<string> All = [Drop, Keep, Ttl, Adaptive];
}

/// <summary>Scheduler settings. <see cref="Validate"/> reports every problem at once.</summary>
public sealed record SchedulerOptions
{
    public string Scheduling { get; init; } = SchedulingPolicies.Mlfq;

    public string PausePolicy { get; init; } = PausePolicies.Adaptive;

    /// <summary>KV accounting block size in tokens.</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>Per-step prefill allowance per MLFQ level (tokens).</summary>
    public IReadOnlyList<int> LevelAllowances { get; init; } = [2048, 1024, 512, 256];

    /// <summary>Uncached-prefill thresholds that place a turn on levels 0..2 (above the last: level 3).</summary>
    public IReadOnlyList<int> LevelThresholds { get; init; } = [2048, 8192, 32768];

    /// <summary>
    /// Program-level attained service (Autellix PLAS): a session served more than this many tokens over all its turns
    /// (prompt tokens computed plus tokens generated) sits on level 1, 2, 3. Off by default: measured in the
    /// simulation (README), it made mean session completion 1.3× longer at a loaded rate on agent-sized sessions,
    /// where ordering by session start wins (see <see cref="Levels.TurnPriority"/>). E.g. [1024, 2048, 4096].
    /// </summary>
    public IReadOnlyList<int> ServiceThresholds { get; init; } = [];

    /// <summary>Waiting this long without service promotes a turn one level.</summary>
    public TimeSpan AgingInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Steps leave prefill chunks out while the decoding turns would finish sooner that way (see
    /// <see cref="Levels.DecodeFirst"/>); false mixes a prefill chunk into every step (Sarathi-style chunked prefill).
    /// </summary>
    public bool DecodeFirst { get; init; } = true;

    /// <summary>
    /// Scale the cost model to the step times the engine reports (see <see cref="Costs.CalibratedCosts"/>); false keeps
    /// the model's defaults, measured for the 125M test model.
    /// </summary>
    public bool CalibrateCosts { get; init; } = true;

    /// <summary>Tokens per step, at most the engine's batch size.</summary>
    public int MaxBatchTokens { get; init; } = 512;

    /// <summary>The fixed keep time of the ttl policy (Continuum's 2 s).</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Adaptive: pauses predicted at least this long are parked at once when KV use is high.</summary>
    public TimeSpan AdaptiveKeepBelow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Adaptive: the pause assumed for a tool never seen before (real agent traces: median ≈ 0.3 s).</summary>
    public TimeSpan DefaultPausePrediction { get; init; } = TimeSpan.FromSeconds(2);

    public int MaxWaitingTurns { get; init; } = 256;

    public long MaxQueuedPromptTokens { get; init; } = 1_000_000;

    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Sessions idle this long are ended (their KV freed).</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Sessions remembered at most; past it the longest idle one is forgotten (a new session never waits for it).</summary>
    public int MaxSessions { get; init; } = 100_000;

    public AdmissionOptions Admission { get; init; } = new();

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!SchedulingPolicies.All.Contains(Scheduling)) errors.Add($"unknown scheduling policy '{Scheduling}' (expected {string.Join(", ", SchedulingPolicies.All)})");
        if (!PausePolicies.All.Contains(PausePolicy)) errors.Add($"unknown pause policy '{PausePolicy}' (expected {string.Join(", ", PausePolicies.All)})");
        if (BlockSize is < 1 or > 1024) errors.Add("BlockSize must be 1..1024");
        if (LevelAllowances.Count != LevelThresholds.Count + 1) errors.Add("LevelAllowances needs one more entry than LevelThresholds");
        if (LevelAllowances.Any(a => a < 1)) errors.Add("LevelAllowances must be positive");
        if (LevelThresholds.Zip(LevelThresholds.Skip(1)).Any(p => p.First >= p.Second)) errors.Add("LevelThresholds must increase");
        if (ServiceThresholds.Count > LevelThresholds.Count) errors.Add("ServiceThresholds may have at most as many entries as LevelThresholds");
        if (ServiceThresholds.Zip(ServiceThresholds.Skip(1)).Any(p => p.First >= p.Second)) errors.Add("ServiceThresholds must increase");
        if (AgingInterval <= TimeSpan.Zero) errors.Add("AgingInterval must be positive");
        if (MaxBatchTokens < 1) errors.Add("MaxBatchTokens must be positive");
        if (Ttl < TimeSpan.Zero) errors.Add("Ttl must be >= 0");
        if (MaxWaitingTurns < 1) errors.Add("MaxWaitingTurns must be positive");
        if (MaxQueuedPromptTokens < 1) errors.Add("MaxQueuedPromptTokens must be positive");
        if (SessionIdleTimeout <= TimeSpan.Zero) errors.Add("SessionIdleTimeout must be positive");
        if (MaxSessions < 1) errors.Add("MaxSessions must be positive");
        errors.AddRange(Admission.Validate());
        return errors;
    }
}

/// <summary>
/// AIMD admission (MARS): the window caps the sessions holding a place, which are exactly the sessions holding a slot
/// (a turn running or waiting in its own kept slot, or kept resident in a tool pause).
/// </summary>
public sealed record AdmissionOptions
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(200);
    public int InitialWindow { get; init; } = 32;
    public int MinWindow { get; init; } = 4;
    public int MaxWindow { get; init; } = 256;
    public double DecreaseFactor { get; init; } = 0.7;
    public double KvHigh { get; init; } = 0.90;
    public double KvLow { get; init; } = 0.85;

    /// <summary>Queued prompt tokens beyond which the queue counts as overloaded.</summary>
    public long QueueOverloadTokens { get; init; } = 64_000;

    public IEnumerable<string> Validate()
    {
        if (Interval <= TimeSpan.Zero) yield return "Admission.Interval must be positive";
        if (MinWindow < 1 || MinWindow > MaxWindow) yield return "Admission.MinWindow must be 1..MaxWindow";
        if (InitialWindow < MinWindow || InitialWindow > MaxWindow) yield return "Admission.InitialWindow must be within MinWindow..MaxWindow";
        if (DecreaseFactor is <= 0 or >= 1) yield return "Admission.DecreaseFactor must be in (0, 1)";
        if (!(KvLow < KvHigh && KvHigh <= 1 && KvLow > 0)) yield return "Admission needs 0 < KvLow < KvHigh <= 1";
    }
}

/// <summary>What the scheduler needs to know about the engine.</summary>
public sealed record EngineShape(int SlotCount, int ContextPerSlot, int MaxBatchTokens);
