using Serving.Cache.Prefix;
using Serving.Scheduler.Admission;
using Serving.Scheduler.Contracts;
using Serving.Scheduler.Costs;
using Serving.Scheduler.Levels;
using Serving.Scheduler.Pauses;
using Serving.Scheduler.Residency;

namespace Serving.Scheduler.Core;

/// <summary>
/// The scheduler for one engine: MLFQ (or FCFS) over turns, sessions kept, parked or dropped across tool pauses,
/// AIMD admission. See <see cref="IAgentScheduler"/> for the calling contract. This file holds the entry points;
/// planning and completion are in the partial files beside it. Where KV lives (slots, blocks, parked entries, prefix
/// reuse, the memory ops that move it) is <see cref="KvResidency"/>'s business; this class orders and budgets.
/// <para>
/// Session lifecycle (README "Session lifecycle"): a session holds an admission place exactly while it holds a slot —
/// running, waiting in its own kept slot, or kept resident in a pause. Parked, dropped and idle sessions hold no place
/// and no slot; their next turn waits like a new one, with continuation priority. The AIMD window caps occupied slots.
/// </para>
/// </summary>
internal sealed partial class AgentScheduler : IAgentScheduler
{
    private readonly SchedulerOptions _options;
    private readonly EngineShape _engine;
    private readonly TimeProvider _time;
    private readonly IPausePolicy _pausePolicy;
    private readonly CalibratedCosts _costs;
    private readonly OutputLengthEstimate _outputs = new();
    private readonly PausePredictor _predictor;
    private readonly AimdAdmission _admission;
    private readonly KvResidency _kv;
    private readonly bool _mlfq;

    private readonly Dictionary<string, SessionState> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TurnInFlight> _turns = new(StringComparer.Ordinal);
    private readonly List<TurnInFlight> _waiting = [];
    private readonly List<TurnInFlight> _running = [];
    /// <summary>Resident sessions in a pause: the only candidates for eviction, so eviction never scans all sessions.</summary>
    private readonly HashSet<SessionState> _pausedResident = [];

    private long _stepId;
    private long _sequence;
    private long _queuedPromptTokens;
    /// <summary>Idle-expiry candidates by last activity; stale entries (the session was active since) are skipped.</summary>
    private readonly PriorityQueue<SessionState, DateTimeOffset> _idleOrder = new();
    private long _preemptions, _rejections;

    public AgentScheduler(SchedulerOptions options, EngineShape engine, TimeProvider time, IPausePolicy pausePolicy, CalibratedCosts costs)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid scheduler options: " + string.Join("; ", errors), nameof(options));
        }

        _options = options;
        _engine = engine;
        _time = time;
        _pausePolicy = pausePolicy;
        _costs = costs;
        _mlfq = options.Scheduling == SchedulingPolicies.Mlfq;
        _predictor = new PausePredictor(options.DefaultPausePrediction);
        _admission = new AimdAdmission(options.Admission, time.GetUtcNow());
        _kv = new KvResidency(engine.SlotCount, engine.ContextPerSlot, options.BlockSize);
    }

    public SubmitResult Submit(TurnRequest turn)
    {
        var needed = (long)turn.PromptTokens.Length + turn.MaxNewTokens;
        if (turn.PromptTokens.Length == 0 || turn.MaxNewTokens < 1 || needed > _engine.ContextPerSlot)
        {
            return new SubmitResult(SubmitOutcome.ContextTooLong,
                $"This model's maximum context length is {_engine.ContextPerSlot} tokens. However, you requested {needed} tokens " +
                $"({turn.PromptTokens.Length} in the messages, {turn.MaxNewTokens} in the completion). Please reduce the length of the messages or completion.");
        }

        if (_turns.ContainsKey(turn.RequestId))
        {
            return new SubmitResult(SubmitOutcome.SessionBusy, $"request id {turn.RequestId} is already in flight");
        }

        _sessions.TryGetValue(turn.SessionKey, out var session);
        if (session?.ActiveTurn is not null)
        {
            return new SubmitResult(SubmitOutcome.SessionBusy, "this session already has a turn in progress; send the next turn after the previous one finishes");
        }

        if (_waiting.Count >= _options.MaxWaitingTurns || _queuedPromptTokens + turn.PromptTokens.Length > _options.MaxQueuedPromptTokens)
        {
            _rejections++;
            return new SubmitResult(SubmitOutcome.Rejected, "The server is busy: the request queue is full. Retry later.", _options.RetryAfter);
        }

        var now = _time.GetUtcNow();
        if (session is null && !MakeRoomForSession())
        {
            _rejections++;
            return new SubmitResult(SubmitOutcome.Rejected, "The server is busy: too many sessions are active. Retry later.", _options.RetryAfter);
        }

        session ??= CreateSession(turn.SessionKey, turn.PrefixScope, now);
        var endedPause = EndPause(session, now);
        var inFlight = new TurnInFlight(turn, session, now, ++_sequence)
        {
            EstimatedUncached = turn.PromptTokens.Length - _kv.CommonPrefix(session, turn.PromptTokens),
        };
        session.ActiveTurn = inFlight;
        Touch(session, now);
        _turns[turn.RequestId] = inFlight;
        _waiting.Add(inFlight);
        _queuedPromptTokens += turn.PromptTokens.Length;
        return endedPause is null ? SubmitResult.Accepted : new SubmitResult(SubmitOutcome.Accepted, EndedPause: endedPause);
    }

    public void Cancel(string requestId)
    {
        if (!_turns.TryGetValue(requestId, out var turn))
        {
            return;
        }

        Unqueue(turn);
        FinishTurn(turn, endedWithToolCall: false, toolName: null);
    }

    public void EndSession(string sessionKey)
    {
        if (!_sessions.TryGetValue(sessionKey, out var session))
        {
            return;
        }

        if (session.ActiveTurn is { } turn)
        {
            _turns.Remove(turn.Request.RequestId);
            _running.Remove(turn);
            Unqueue(turn);
            session.ActiveTurn = null;
        }

        Forget(session);
    }

    /// <summary>Takes a not yet placed turn out of the waiting queue.</summary>
    private void Unqueue(TurnInFlight turn)
    {
        if (!turn.Placed && _waiting.Remove(turn))
        {
            _queuedPromptTokens -= turn.PromptLength;
        }
    }

    public SchedulerSnapshot Snapshot() => new(
        RunningTurns: _running.Count,
        WaitingTurns: _waiting.Count,
        Sessions: _sessions.Count,
        ResidentSessions: _kv.Resident,
        ParkedSessions: _kv.Parked,
        FreeSlots: _kv.FreeSlots,
        KvUsage: _kv.Usage,
        AdmissionWindow: _admission.Window,
        QueuedPromptTokens: _queuedPromptTokens,
        Counters: new SchedulerCounters(_kv.Parks, _kv.Restores, _kv.RestoreFailures, _kv.Drops, _kv.Recomputes, _preemptions, _rejections, _kv.PrefixShares),
        CostScales: new CostScales(_costs.DecodeScale, _costs.PrefillScale));

    /// <summary>Invariant checks for tests: slots, blocks and sessions agree (empty when all hold).</summary>
    internal IEnumerable<string> CheckInvariants()
    {
        foreach (var problem in _kv.CheckInvariants(_sessions.Values, _engine.ContextPerSlot))
        {
            yield return problem;
        }

        foreach (var turn in _waiting)
        {
            if (!_turns.ContainsKey(turn.Request.RequestId) || turn.Session.ActiveTurn != turn)
            {
                yield return $"waiting turn {turn.Request.RequestId} is orphaned";
            }
        }
    }

    private void Touch(SessionState session, DateTimeOffset now)
    {
        session.LastActivity = now;
        _idleOrder.Enqueue(session, now);
    }

    /// <summary>The hash salt is the prefix scope (a tenant), so sessions of one tenant can find shared prefixes.</summary>
    private SessionState CreateSession(string key, string? scope, DateTimeOffset now)
    {
        var session = new SessionState(key, PrefixHash.Salt(scope ?? key), now) { Sequence = ++_sequence };
        _sessions[key] = session;
        return session;
    }

    /// <summary>
    /// A returning turn ends the pause; its observed length teaches the predictor about that tool. A session kept
    /// resident keeps its slot (and so its place): its turn is placed in that slot at the next step.
    /// </summary>
    private TimeSpan? EndPause(SessionState session, DateTimeOffset now)
    {
        if (!session.Paused)
        {
            return null;
        }

        var pause = now - session.PauseStart;
        _predictor.Observe(session.PauseTool, pause);
        session.Paused = false;
        session.KeepUntil = null;
        _pausedResident.Remove(session);
        return pause;
    }

    /// <summary>
    /// Bounds the sessions remembered: past <see cref="SchedulerOptions.MaxSessions"/> the longest idle session without
    /// a turn is forgotten (its parked KV freed). False when every remembered session has a turn in flight.
    /// </summary>
    private bool MakeRoomForSession()
    {
        while (_sessions.Count >= _options.MaxSessions)
        {
            if (!_idleOrder.TryDequeue(out var session, out var touched))
            {
                return false;
            }

            if (IsCurrentIdleEntry(session, touched))
            {
                Forget(session);
            }
        }

        return true;
    }

    /// <summary>An idle-order entry still describes the session: it is remembered, has no turn and was not touched since.</summary>
    private bool IsCurrentIdleEntry(SessionState session, DateTimeOffset touched) =>
        _sessions.TryGetValue(session.Key, out var live) && ReferenceEquals(live, session) && session.ActiveTurn is null && session.LastActivity == touched;
}
