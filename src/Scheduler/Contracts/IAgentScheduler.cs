namespace Serving.Scheduler.Contracts;

/// <summary>
/// Schedules agent sessions onto one engine. Pure and synchronous: the worker's engine thread calls it, one step at
/// a time: <see cref="PlanStep"/> says what to run, the engine runs it, <see cref="Complete"/> says what happened.
/// Time comes from the injected TimeProvider; nothing here blocks, sleeps or does I/O.
/// </summary>
public interface IAgentScheduler
{
    /// <summary>Offers the next turn of a session. Nothing changes when the result is not Accepted.</summary>
    SubmitResult Submit(TurnRequest turn);

    /// <summary>The client went away: the turn stops (placed or still waiting); the KV it built stays with the session.</summary>
    void Cancel(string requestId);

    /// <summary>Frees everything the session holds, resident or parked (X-Session-Final, expiry). Its turn, if any, ends.</summary>
    void EndSession(string sessionKey);

    /// <summary>The next engine step: memory operations first, then one batch of chunks. May be empty.</summary>
    BatchPlan PlanStep();

    /// <summary>What the engine did with <paramref name="plan"/>.</summary>
    void Complete(BatchPlan plan, StepResult result);

    SchedulerSnapshot Snapshot();
}

/// <param name="SessionKey">Tenant-scoped session key; one turn of a session runs at a time.</param>
/// <param name="ExpectedToolMs">The client's guess of the tool pause that follows this turn, if any.</param>
/// <param name="PrefixScope">Sessions with the same scope (one tenant) may share KV prefixes; null = this session only.</param>
public sealed record TurnRequest(
    string RequestId,
    string SessionKey,
    int[] PromptTokens,
    int MaxNewTokens,
    bool IsFinal,
    double? ExpectedToolMs = null,
    string? PrefixScope = null);

public enum SubmitOutcome { Accepted, Rejected, ContextTooLong, SessionBusy }

/// <param name="EndedPause">For an accepted turn of a returning session: the tool pause it ended (metrics).</param>
public sealed record SubmitResult(SubmitOutcome Outcome, string? Message = null, TimeSpan? RetryAfter = null, TimeSpan? EndedPause = null)
{
    public static SubmitResult Accepted { get; } = new(SubmitOutcome.Accepted);
}

/// <summary>One engine step. <see cref="MemoryOps"/> run in order before <see cref="Chunks"/> are decoded together.</summary>
public sealed record BatchPlan(long StepId, IReadOnlyList<MemoryOp> MemoryOps, IReadOnlyList<PlannedChunk> Chunks)
{
    public bool IsEmpty => MemoryOps.Count == 0 && Chunks.Count == 0;
}

public abstract record MemoryOp(string SessionKey)
{
    /// <summary>The slot whose KV the op changes (null: only the parking store). Emptied when the op fails.</summary>
    public abstract int? AffectedSlot { get; }
}

/// <summary>Copy the slot's KV into the parking store under <paramref name="EntryId"/>, then empty the slot.</summary>
public sealed record ParkOp(string SessionKey, int Slot, string EntryId) : MemoryOp(SessionKey)
{
    public override int? AffectedSlot => Slot;
}

/// <summary>Load the parked entry into the empty slot (checksum verified); the entry is removed afterwards.</summary>
public sealed record RestoreOp(string SessionKey, string EntryId, int Slot) : MemoryOp(SessionKey)
{
    public override int? AffectedSlot => Slot;
}

/// <summary>Forget the session's KV: empty its slot and/or remove its parked entry.</summary>
public sealed record DropOp(string SessionKey, int? Slot, string? EntryId) : MemoryOp(SessionKey)
{
    public override int? AffectedSlot => Slot;
}

/// <summary>Copy the whole sequence of another slot into the empty target slot (a prefix shared with another session).</summary>
public sealed record CopyOp(string SessionKey, int SourceSlot, int TargetSlot) : MemoryOp(SessionKey)
{
    public override int? AffectedSlot => TargetSlot;
}

/// <summary>Keep the first <paramref name="KeepTokens"/> tokens of the slot (a returning turn diverged there).</summary>
public sealed record TruncateOp(string SessionKey, int Slot, int KeepTokens) : MemoryOp(SessionKey)
{
    public override int? AffectedSlot => Slot;
}

/// <summary>Tokens for one slot at consecutive positions. A decode chunk is the one token sampled last step.</summary>
public sealed record PlannedChunk(string RequestId, int Slot, int StartPosition, int[] Tokens, bool WantLogits, bool IsDecode);

/// <param name="FailedRequests">Turns whose chunk the engine rejected even alone: each fails, and its session's KV is no
/// longer trusted. The other chunks of the step ran.</param>
public sealed record StepResult(IReadOnlyList<TurnProgress> Progress, IReadOnlyList<MemoryOpResult> MemoryResults, TimeSpan Elapsed, IReadOnlyList<string>? FailedRequests = null)
{
    public static StepResult Empty { get; } = new([], [], TimeSpan.Zero);
}

public enum TurnState { Running, Finished }

/// <summary>
/// What happened to a turn that had a chunk with logits: the token sampled (null if none), and whether the turn is
/// finished (EOS, max tokens, stop string, tool call, cancellation). The sampled token of a finished turn is not fed.
/// </summary>
public sealed record TurnProgress(string RequestId, int? SampledToken, TurnState State, bool EndedWithToolCall = false, string? ToolName = null);

/// <summary>
/// What a memory op did. A failed op leaves its <see cref="MemoryOp.AffectedSlot"/> empty (the executor guarantees it):
/// the session's KV is gone and its turn prefills from the start. The step's chunks for that slot are not run (the
/// executor skips them, the scheduler plans them again).
/// </summary>
public sealed record MemoryOpResult(MemoryOp Op, bool Succeeded, TimeSpan Elapsed, long Bytes);

public sealed record SchedulerSnapshot(
    int RunningTurns,
    int WaitingTurns,
    int Sessions,
    int ResidentSessions,
    int ParkedSessions,
    int FreeSlots,
    double KvUsage,
    int AdmissionWindow,
    long QueuedPromptTokens,
    SchedulerCounters Counters,
    CostScales CostScales);

/// <summary>How much longer (above 1) or shorter the engine's steps take than the default cost model says.</summary>
public sealed record CostScales(double Decode, double Prefill);

/// <summary>Monotonic counts since start, for metrics.</summary>
public sealed record SchedulerCounters(long Parks, long Restores, long RestoreFailures, long Drops, long Recomputes, long Preemptions, long Rejections, long PrefixShares);
