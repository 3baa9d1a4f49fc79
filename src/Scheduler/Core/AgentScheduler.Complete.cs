using Serving.Scheduler.Contracts;
using Serving.Scheduler.Pauses;

namespace Serving.Scheduler.Core;

internal sealed partial class AgentScheduler
{
    public void Complete(BatchPlan plan, StepResult result)
    {
        HashSet<int>? failedSlots = null;
        foreach (var outcome in result.MemoryResults)
        {
            ApplyMemoryResult(outcome);
            if (!outcome.Succeeded && outcome.Op.AffectedSlot is { } slot)
            {
                (failedSlots ??= []).Add(slot);
            }
        }

        var failedRequests = result.FailedRequests ?? [];
        foreach (var id in failedRequests)
        {
            // The engine refused this chunk even alone: the turn fails, and the session's KV may be half-written, so
            // the session is forgotten; its next turn recomputes from scratch.
            if (_turns.TryGetValue(id, out var failed))
            {
                EndSession(failed.Session.Key);
            }
        }

        var progress = result.Progress.ToDictionary(p => p.RequestId, StringComparer.Ordinal);
        foreach (var chunk in plan.Chunks)
        {
            if (!_turns.TryGetValue(chunk.RequestId, out var turn) || turn.Slot != chunk.Slot)
            {
                continue; // Cancelled or ended while the step ran.
            }

            if (failedSlots?.Contains(chunk.Slot) == true)
            {
                continue; // Not run: a memory op on its slot failed; the turn is planned again from what the slot holds.
            }

            var session = turn.Session;
            session.KvTokens.AddRange(chunk.Tokens);
            session.ServedTokens += chunk.Tokens.Length;
            if (!chunk.IsDecode)
            {
                turn.PrefillPosition += chunk.Tokens.Length;
            }

            SyncBlocks(session);
            if (!progress.TryGetValue(chunk.RequestId, out var p))
            {
                continue;
            }

            if (p.SampledToken is { } token)
            {
                turn.Decoding = true;
                turn.PendingToken = token;
                turn.Generated++;
            }

            if (p.State == TurnState.Finished)
            {
                FinishTurn(turn, p.EndedWithToolCall, p.ToolName);
            }
        }
    }

    /// <summary>
    /// A failed memory op means the session's KV is gone (the executor emptied the slot): it recomputes, never resumes
    /// from wrong state. A drop cannot fail in a way that matters: the slot is emptied either way.
    /// </summary>
    private void ApplyMemoryResult(MemoryOpResult outcome)
    {
        if (outcome.Succeeded || outcome.Op is DropOp || !_sessions.TryGetValue(outcome.Op.SessionKey, out var session))
        {
            return;
        }

        if (outcome.Op is RestoreOp)
        {
            _restoreFailures++;
        }

        if (outcome.Op is ParkOp)
        {
            SetParked(session, null);
        }
        else
        {
            _recomputes++;
        }

        session.KvTokens.Clear();
        SyncBlocks(session);
        if (session.ActiveTurn is { Placed: true } turn)
        {
            turn.PrefillPosition = 0;
            turn.CachedTokens = 0;
        }
    }

    /// <summary>The turn is over: the session pauses (or ends, on its final turn).</summary>
    private void FinishTurn(TurnInFlight turn, bool endedWithToolCall, string? toolName)
    {
        var session = turn.Session;
        var now = _time.GetUtcNow();
        _turns.Remove(turn.Request.RequestId);
        _running.Remove(turn);
        session.ActiveTurn = null;
        Touch(session, now);
        if (turn.Request.IsFinal)
        {
            Forget(session);
            return;
        }

        session.Paused = true;
        session.PauseStart = now;
        session.PauseTool = endedWithToolCall ? toolName ?? "" : null;
        session.PredictedPause = _predictor.Predict(session.PauseTool, turn.Request.ExpectedToolMs);
        if (session.Slot is null)
        {
            return; // Cancelled while waiting without a slot: it held nothing.
        }

        var decision = _pausePolicy.OnPauseStart(new PauseContext(session.KvTokens.Count, session.PredictedPause, SlotPressure(), now, _blocks.Usage));
        if (decision.Action == PauseAction.Keep)
        {
            session.KeepUntil = decision.KeepUntil;
            _pausedResident.Add(session);
        }
        else
        {
            Evict(session, decision.Action);
        }
    }

    /// <summary>More turns wait than there are free slots: someone will need a paused session's slot.</summary>
    private bool SlotPressure()
    {
        var free = 0;
        foreach (var s in _slots)
        {
            if (s is null) free++;
        }

        return _waiting.Count > free;
    }

    /// <summary>Frees a resident session's slot (and with it its admission place) by parking or dropping its KV.</summary>
    private void Evict(SessionState session, PauseAction action)
    {
        var slot = session.Slot!.Value;
        _pausedResident.Remove(session);
        session.KeepUntil = null;
        if (action == PauseAction.Park && session.KvTokens.Count > 0)
        {
            _pendingOps.Add(new ParkOp(session.Key, slot, session.EntryId));
            SetParked(session, session.EntryId);
            _parks++;
        }
        else
        {
            _pendingOps.Add(new DropOp(session.Key, slot, null));
            session.KvTokens.Clear();
            _drops++;
        }

        Vacate(session);
        SyncBlocks(session);
    }

    /// <summary>Frees everything of a session and forgets it.</summary>
    private void Forget(SessionState session)
    {
        if (session.Slot is not null || session.ParkedEntry is not null)
        {
            _pendingOps.Add(new DropOp(session.Key, session.Slot, session.ParkedEntry));
        }

        if (session.Slot is not null)
        {
            Vacate(session);
        }

        SetParked(session, null);
        session.KvTokens.Clear();
        SyncBlocks(session);
        _pausedResident.Remove(session);
        _sessions.Remove(session.Key);
    }

    private void DiscardParked(SessionState session)
    {
        if (session.ParkedEntry is { } entry)
        {
            _pendingOps.Add(new DropOp(session.Key, null, entry));
            SetParked(session, null);
        }
    }

    /// <summary>Resident sessions hold exactly the blocks their tokens need; parked and dropped ones hold none.</summary>
    private void SyncBlocks(SessionState session)
    {
        var needed = session.Slot is null ? 0 : _blocks.BlocksFor(session.KvTokens.Count);
        if (needed < session.Blocks.Count)
        {
            _blocks.Release(session.Blocks.GetRange(needed, session.Blocks.Count - needed));
            session.Blocks.RemoveRange(needed, session.Blocks.Count - needed);
        }
        else if (needed > session.Blocks.Count && !_blocks.TryAllocate(needed - session.Blocks.Count, session.Blocks))
        {
            // Cannot happen while each slot stays within its context: the pool has exactly slots × context tokens.
            throw new InvalidOperationException($"KV block accounting overflow for session {session.Key}");
        }
    }
}
