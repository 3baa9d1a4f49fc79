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
        if (_options.CalibrateCosts && failedSlots is null && failedRequests.Count == 0)
        {
            // Only whole steps teach the cost model: a step with skipped chunks did less than its plan says.
            _costs.Observe(plan.Chunks, result.Elapsed - result.MemoryResults.Aggregate(TimeSpan.Zero, (sum, m) => sum + m.Elapsed));
        }

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
            _kv.Append(session, chunk.Tokens);
            session.ServedTokens += chunk.Tokens.Length;
            if (!chunk.IsDecode)
            {
                turn.PrefillPosition += chunk.Tokens.Length;
            }

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
                _outputs.Observe(turn.Generated);
                FinishTurn(turn, p.EndedWithToolCall, p.ToolName);
            }
        }
    }

    /// <summary>A failed memory op reset the session's KV (see <see cref="Residency.KvResidency.ApplyResult"/>): its placed turn starts over.</summary>
    private void ApplyMemoryResult(MemoryOpResult outcome)
    {
        if (_sessions.TryGetValue(outcome.Op.SessionKey, out var session) && _kv.ApplyResult(outcome, session)
            && session.ActiveTurn is { Placed: true } turn)
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

        var decision = _pausePolicy.OnPauseStart(new PauseContext(session.KvTokens.Count, session.PredictedPause, SlotPressure(), now, _kv.Usage));
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
    private bool SlotPressure() => _waiting.Count > _kv.FreeSlots;

    /// <summary>Frees a resident session's slot (and with it its admission place) by parking or dropping its KV.</summary>
    private void Evict(SessionState session, PauseAction action)
    {
        _pausedResident.Remove(session);
        session.KeepUntil = null;
        _kv.Evict(session, park: action == PauseAction.Park);
    }

    /// <summary>Frees everything of a session and forgets it.</summary>
    private void Forget(SessionState session)
    {
        _kv.Release(session);
        _pausedResident.Remove(session);
        _sessions.Remove(session.Key);
    }
}
