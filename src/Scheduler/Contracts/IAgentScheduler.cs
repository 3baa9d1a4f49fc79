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

    /// <summary>The client went away: the turn stops; the KV it built stays with the session.</summary>
    void Cancel(string requestId);

    /// <summary>Frees everything the session holds, resident or parked (X-Session-Final, expiry).</summary>
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

public sealed record SubmitResult(SubmitOutcome Outcome, string? Message = null, TimeSpan? RetryAfter = null)
{
    public static SubmitResult Accepted { get; } = new(SubmitOutcome.Accepted);
}

/// <summary>One engine step. <see cref="MemoryOps"/> run in order before <see cref="Chunks"/> are decoded together.</summary>
public sealed record BatchPlan(long StepId, IReadOnlyList<MemoryOp> MemoryOps, IReadOnlyList<PlannedChunk> Chunks)
{
    public bool IsEmpty => MemoryOps.Count == 0 && Chunks.Count == 0;
}

public abstract record MemoryOp(string SessionKey);

/// <summary>Copy the slot's KV into the parking store under <paramref name="EntryId"/>, then empty the slot.</summary>
public sealed record ParkOp(string SessionKey, int Slot, string EntryId) : MemoryOp(SessionKey);

/// <summary>Load the parked entry into the empty slot (checksum verified); the entry is removed afterwards.</summary>
public sealed record RestoreOp(string SessionKey, string EntryId, int Slot) : MemoryOp(SessionKey);

/// <summary>Forget the session's KV: empty its slot and/or remove its parked entry.</summary>
public sealed record DropOp(string SessionKey, int? Slot, string? EntryId) : MemoryOp(SessionKey);

/// <summary>Copy the whole sequence of another slot into the empty target slot (a prefix shared with another session).</summary>
public sealed record CopyOp(string SessionKey, int SourceSlot, int TargetSlot) : MemoryOp(SessionKey);

/// <summary>Keep the first <paramref name="KeepTokens"/> tokens of the slot (a returning turn diverged there).</summary>
public sealed record TruncateOp(string SessionKey, int Slot, int KeepTokens) : MemoryOp(SessionKey);

/// <summary>Tokens for one slot at consecutive positions. A decode chunk is the one token sampled last step.</summary>
public sealed record PlannedChunk(string RequestId, int Slot, int StartPosition, int[] Tokens, bool WantLogits, bool IsDecode);

/// <param name="DecodeFailed">The engine rejected the batch: the KV of every session in it is no longer trusted.</param>
public sealed record StepResult(IReadOnlyList<TurnProgress> Progress, IReadOnlyList<MemoryOpResult> MemoryResults, TimeSpan Elapsed, bool DecodeFailed = false)
{
    public static StepResult Empty { get; } = new([], [], TimeSpan.Zero);
}

public enum TurnState { Running, Finished }

/// <summary>
/// What happened to a turn that had a chunk with logits: the token sampled (null if none), and whether the turn is
/// finished (EOS, max tokens, stop string, tool call, cancellation). The sampled token of a finished turn is not fed.
/// </summary>
public sealed record TurnProgress(string RequestId, int? SampledToken, TurnState State, bool EndedWithToolCall = false, string? ToolName = null);

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
    SchedulerCounters Counters);

/// <summary>Monotonic counts since start, for metrics.</summary>
public sealed record SchedulerCounters(long Parks, long Restores, long RestoreFailures, long Drops, long Recomputes, long Preemptions, long Rejections, long PrefixShares);
