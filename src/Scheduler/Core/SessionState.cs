using Serving.Scheduler.Contracts;

namespace Serving.Scheduler.Core;

/// <summary>Everything the scheduler knows about one session. Mutable, owned by <see cref="AgentScheduler"/>.</summary>
internal sealed class SessionState(string key, ulong salt, DateTimeOffset now)
{
    public string Key { get; } = key;

    /// <summary>Tenant/session scope of the prefix hash chain.</summary>
    public ulong Salt { get; } = salt;

    /// <summary>Exactly the tokens whose KV the session holds (resident in <see cref="Slot"/> or parked).</summary>
    public List<int> KvTokens { get; } = [];

    /// <summary>Accounting blocks held while resident.</summary>
    public List<int> Blocks { get; } = [];

    /// <summary>The sequence slot the session's KV occupies; holding one is holding an admission place.</summary>
    public int? Slot { get; set; }

    /// <summary>Set through the scheduler (it counts parked sessions).</summary>
    public string? ParkedEntry { get; set; }

    /// <summary>True when the session's next turn would continue from KV it holds (resident or parked).</summary>
    public bool HasKv => KvTokens.Count > 0 || ParkedEntry is not null;

    public TurnInFlight? ActiveTurn { get; set; }

    /// <summary>When the session started, in the scheduler's arrival sequence (program-level first come, first served).</summary>
    public long Sequence { get; init; }

    /// <summary>Tokens the engine has computed for this session over all its turns: its attained service (PLAS).</summary>
    public long ServedTokens { get; set; }

    public DateTimeOffset LastActivity { get; set; } = now;

    // The pause that follows a finished turn.
    public bool Paused { get; set; }
    public DateTimeOffset PauseStart { get; set; }
    public TimeSpan PredictedPause { get; set; }
    public string? PauseTool { get; set; }
    public DateTimeOffset? KeepUntil { get; set; }

    public string EntryId => "kv:" + Key;
}

/// <summary>One turn (request) in flight.</summary>
internal sealed class TurnInFlight(TurnRequest request, SessionState session, DateTimeOffset arrival, long sequence)
{
    public TurnRequest Request { get; } = request;
    public SessionState Session { get; } = session;
    public DateTimeOffset Arrival { get; } = arrival;
    public long Sequence { get; } = sequence;

    /// <summary>Uncached prompt tokens estimated at submit (orders the waiting queue).</summary>
    public int EstimatedUncached { get; set; }

    public bool Placed { get; set; }

    public int Slot { get; set; } = -1;

    /// <summary>Prompt tokens already in the KV (cached ones included).</summary>
    public int PrefillPosition { get; set; }

    public int CachedTokens { get; set; }

    public bool Decoding { get; set; }

    public int? PendingToken { get; set; }

    public int Generated { get; set; }

    /// <summary>MLFQ feedback level (demotions); the effective level also counts size and aging.</summary>
    public int FeedbackLevel { get; set; }

    public DateTimeOffset? LastScheduled { get; set; }

    public int PromptLength => Request.PromptTokens.Length;
}
