using Serving.Scheduler.Contracts;
using Serving.Scheduler.Levels;
using Serving.Scheduler.Pauses;

namespace Serving.Scheduler.Core;

internal sealed partial class AgentScheduler
{
    public BatchPlan PlanStep()
    {
        var now = _time.GetUtcNow();
        var stepId = ++_stepId;
        _admission.Tick(now, _blocks.Usage, _queuedPromptTokens > _options.Admission.QueueOverloadTokens);
        ExpireIdleSessions(now);
        ApplyKeepDeadlines(now);
        PlaceWaitingTurns(now, stepId);
        var ops = _pendingOps.ToList();
        _pendingOps.Clear();
        var chunks = ComposeBatch(now, stepId);
        return new BatchPlan(stepId, ops, chunks);
    }

    /// <summary>Kept sessions whose keep time is over are parked or dropped, as the policy says.</summary>
    private void ApplyKeepDeadlines(DateTimeOffset now)
    {
        if (_pausedResident.Count == 0)
        {
            return;
        }

        List<SessionState>? expired = null;
        foreach (var session in _pausedResident)
        {
            if (session.KeepUntil is { } until && until <= now)
            {
                (expired ??= []).Add(session);
            }
        }

        expired?.ForEach(session => Evict(session, _pausePolicy.AfterDeadline));
    }

    /// <summary>Gives waiting turns a slot, best first, while slots can be found.</summary>
    private void PlaceWaitingTurns(DateTimeOffset now, long stepId)
    {
        // Finding the best turn is the costly part; skip it when no slot could be had anyway.
        while (_waiting.Count > 0 && (_pausedResident.Count > 0 || Array.IndexOf(_slots, null) >= 0))
        {
            var turn = BestWaiting(now);
            if (turn is null)
            {
                return;
            }

            var slot = turn.Session.Slot ?? AcquireSlot();
            if (slot is null)
            {
                return; // Every slot is busy with running turns.
            }

            if (!turn.Session.Admitted)
            {
                turn.Session.Admitted = true;
                _admittedSessions++;
            }

            Place(turn, slot.Value, stepId);
        }
    }

    /// <summary>
    /// The waiting turn to place next: lowest effective level (MLFQ; aging included), then arrival; FCFS uses arrival
    /// only. A linear scan per placement instead of sorting the whole queue every step: placements per step are few.
    /// New sessions are skipped while the AIMD window is full.
    /// </summary>
    private TurnInFlight? BestWaiting(DateTimeOffset now)
    {
        var windowOpen = _admittedSessions < _admission.Window;
        TurnInFlight? best = null;
        var bestLevel = int.MaxValue;
        foreach (var turn in _waiting)
        {
            if (!turn.Session.Admitted && !windowOpen)
            {
                continue;
            }

            var level = _mlfq ? MlfqLevels.Effective(MlfqLevels.SizeLevel(turn.EstimatedUncached, _options.LevelThresholds), 0, now - turn.Arrival, _options.AgingInterval) : 0;
            if (best is null || level < bestLevel || (level == bestLevel && turn.Sequence < best.Sequence))
            {
                (best, bestLevel) = (turn, level);
            }
        }

        return best;
    }

    /// <summary>A free slot, or one taken from the kept session the policy evicts first; null when every slot is busy.</summary>
    private int? AcquireSlot()
    {
        for (var slot = 0; slot < _slots.Length; slot++)
        {
            if (_slots[slot] is null)
            {
                return slot;
            }
        }

        if (_pausedResident.Count == 0)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        var victim = _pausedResident.MaxBy(s => _pausePolicy.EvictionScore(s.PauseStart, s.PredictedPause, now))!;
        var freed = victim.Slot!.Value;
        _preemptions++;
        // A keep policy that would keep under eviction means "drop": the slot must be freed either way.
        Evict(victim, _pausePolicy.OnEviction == PauseAction.Park ? PauseAction.Park : PauseAction.Drop);
        return freed;
    }

    /// <summary>Puts a turn into its slot: restores or truncates the session's KV to what the new prompt shares.</summary>
    private void Place(TurnInFlight turn, int slot, long stepId)
    {
        var session = turn.Session;
        _waiting.Remove(turn);
        _queuedPromptTokens -= turn.PromptLength;
        var prompt = turn.Request.PromptTokens;
        var common = CommonPrefix(session, prompt);
        // At least one prompt token must be computed: its logits give the first output token.
        common = Math.Min(common, prompt.Length - 1);

        if (session.Slot is null)
        {
            _slots[slot] = session;
            session.Slot = slot;
            if (session.ParkedEntry is { } entry && common > 0)
            {
                _pendingOps.Add(new RestoreOp(session.Key, entry, slot));
                session.ParkedEntry = null;
                turn.NotBeforeStep = stepId + 1;
                _restores++;
            }
            else
            {
                DiscardParked(session);
                if (session.KvTokens.Count > 0)
                {
                    _recomputes++;
                }

                session.KvTokens.Clear();
                common = SharePrefix(session, slot, prompt);
            }
        }

        if (common < session.KvTokens.Count)
        {
            _pendingOps.Add(new TruncateOp(session.Key, slot, common));
            session.KvTokens.RemoveRange(common, session.KvTokens.Count - common);
        }

        SyncBlocks(session);
        turn.Placed = true;
        turn.Slot = slot;
        turn.PrefillPosition = common;
        turn.CachedTokens = common;
        turn.FeedbackLevel = 0;
        _running.Add(turn);
    }

    /// <summary>Below this many shared tokens, copying a whole sequence costs more than prefilling them.</summary>
    private const int MinSharedPrefix = 64;

    /// <summary>
    /// A session starting from nothing may copy the KV of a resident session of the same scope (tenant) that starts
    /// with the same tokens — typically the agent framework's system prompt and tool list. llama.cpp can only copy a
    /// whole sequence between non-unified slots, so the copy is truncated to the shared prefix.
    /// </summary>
    private int SharePrefix(SessionState session, int slot, int[] prompt)
    {
        SessionState? donor = null;
        var best = MinSharedPrefix - 1;
        foreach (var candidate in _slots)
        {
            // A donor restored in this very step may fail its restore: never copy from it.
            if (candidate is null || candidate == session || candidate.Salt != session.Salt || candidate.KvTokens.Count <= best
                || candidate.ActiveTurn?.NotBeforeStep > _stepId)
            {
                continue;
            }

            var shared = Math.Min(CommonPrefix(candidate, prompt), prompt.Length - 1);
            if (shared > best)
            {
                (donor, best) = (candidate, shared);
            }
        }

        if (donor is null)
        {
            return 0;
        }

        _pendingOps.Add(new CopyOp(session.Key, donor.Slot!.Value, slot));
        session.KvTokens.AddRange(donor.KvTokens.GetRange(0, donor.KvTokens.Count));
        _prefixShares++;
        return best; // Place truncates the copy to this length.
    }

    /// <summary>All running decodes (one token each), then prefill chunks by level within the step's token budget.</summary>
    private List<PlannedChunk> ComposeBatch(DateTimeOffset now, long stepId)
    {
        var chunks = new List<PlannedChunk>();
        var budget = Math.Min(_options.MaxBatchTokens, _engine.MaxBatchTokens);
        foreach (var turn in _running)
        {
            if (turn.Decoding && turn.PendingToken is { } token && budget > 0)
            {
                chunks.Add(new PlannedChunk(turn.Request.RequestId, turn.Slot, turn.Session.KvTokens.Count, [token], true, true));
                turn.LastScheduled = now;
                budget--;
            }
        }

        foreach (var turn in OrderPrefills(now))
        {
            if (budget <= 0)
            {
                break;
            }

            if (turn.NotBeforeStep > stepId)
            {
                continue;
            }

            var remaining = turn.PromptLength - turn.PrefillPosition;
            var level = CurrentLevel(turn, now);
            var allowance = _mlfq ? _options.LevelAllowances[level] : int.MaxValue;
            var n = Math.Min(remaining, Math.Min(allowance, budget));
            var tokens = turn.Request.PromptTokens.AsSpan(turn.PrefillPosition, n).ToArray();
            var last = n == remaining;
            chunks.Add(new PlannedChunk(turn.Request.RequestId, turn.Slot, turn.PrefillPosition, tokens, last, false));
            budget -= n;
            turn.LastScheduled = now;
            if (_mlfq && n == allowance && !last)
            {
                // Used its whole level allowance and still has work: demote (MARS feedback).
                turn.FeedbackLevel = Math.Min(_options.LevelAllowances.Count - 1, level + 1);
            }
        }

        return chunks;
    }

    private IEnumerable<TurnInFlight> OrderPrefills(DateTimeOffset now)
    {
        var prefills = _running.Where(t => !t.Decoding && t.PrefillPosition < t.PromptLength);
        return _mlfq
            ? prefills.OrderBy(t => CurrentLevel(t, now)).ThenBy(t => t.LastScheduled ?? DateTimeOffset.MinValue).ThenBy(t => t.Sequence)
            : prefills.OrderBy(t => t.Sequence);
    }

    private int CurrentLevel(TurnInFlight turn, DateTimeOffset now)
    {
        var size = MlfqLevels.SizeLevel(turn.PromptLength - turn.PrefillPosition, _options.LevelThresholds);
        return MlfqLevels.Effective(size, turn.FeedbackLevel, now - (turn.LastScheduled ?? turn.Arrival), _options.AgingInterval);
    }

    /// <summary>Ends sessions idle past the timeout, oldest first, in O(log n) per expired or stale entry.</summary>
    private void ExpireIdleSessions(DateTimeOffset now)
    {
        var cutoff = now - _options.SessionIdleTimeout;
        while (_idleOrder.TryPeek(out var session, out var touched) && touched < cutoff)
        {
            _idleOrder.Dequeue();
            var current = _sessions.TryGetValue(session.Key, out var live) && ReferenceEquals(live, session);
            if (current && session.ActiveTurn is null && session.LastActivity == touched)
            {
                Forget(session);
            }
        }
    }
}
