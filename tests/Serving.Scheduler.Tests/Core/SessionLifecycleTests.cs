using Serving.Scheduler.Contracts;
using Serving.Scheduler.Pauses;
using Serving.Scheduler.Tests.Support;

namespace Serving.Scheduler.Tests.Core;

/// <summary>
/// Liveness of the session lifecycle: idle sessions hold no admission place, a kept session always gets its own slot
/// back, a window full of kept sessions gives way to new work, and failures reset only the session concerned.
/// </summary>
public sealed class SessionLifecycleTests
{
    [Theory]
    [InlineData(PausePolicies.Adaptive)]
    [InlineData(PausePolicies.Keep)]
    [InlineData(PausePolicies.Drop)]
    public void ManyDistinctSessionsNeverFinal_EachOneTurnFinishesWithinAFewSteps(string policy)
    {
        // As agent frameworks send: one turn per session, never X-Session-Final. The clock does not move, so neither
        // idle expiry nor AIMD growth can rescue a session that waits for a place.
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = policy }, slots: 4);
        for (var i = 0; i < 400; i++)
        {
            Assert.Equal(SubmitOutcome.Accepted, h.Submit($"r{i}", $"s{i}", SchedulerHarness.Tokens(20, 100 + i), maxNew: 1).Outcome);
            h.RunUntilDone($"r{i}", maxSteps: 4);
        }

        var snapshot = h.Scheduler.Snapshot();
        Assert.Equal((0, 0), (snapshot.RunningTurns, snapshot.WaitingTurns));
        Assert.True(snapshot.ResidentSessions <= 4);
    }

    [Fact]
    public void KeptSessionReturns_OneSlot_ItsTurnRunsInItsOwnSlotAtOnce()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Keep }, slots: 1);
        var prompt = SchedulerHarness.Tokens(30);
        h.Submit("a1", "A", prompt, maxNew: 2);
        h.RunUntilDone("a1");
        Assert.Equal(1, h.Scheduler.Snapshot().ResidentSessions);

        h.Submit("a2", "A", [.. prompt, 7, 7, 9], maxNew: 1);
        var chunk = h.Step().Chunks.Single();
        Assert.Equal(("a2", 0, 31), (chunk.RequestId, chunk.Slot, chunk.StartPosition));
    }

    [Fact]
    public void EveryKeptSessionReturnsAtOnce_AllSlotsHeld_EachGetsItsOwnSlot()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Keep }, slots: 3);
        for (var i = 0; i < 3; i++)
        {
            h.Submit($"t{i}", $"S{i}", SchedulerHarness.Tokens(20, 100 * (i + 1)), maxNew: 1);
        }

        h.Step();
        Assert.Equal(0, h.Scheduler.Snapshot().FreeSlots);
        for (var i = 0; i < 3; i++)
        {
            h.Submit($"u{i}", $"S{i}", [.. SchedulerHarness.Tokens(20, 100 * (i + 1)), 5, 6], maxNew: 1);
        }

        var plan = h.Step();
        Assert.Equal(3, plan.Chunks.Count);
        Assert.Empty(plan.MemoryOps); // nobody was evicted: each continued in place
    }

    [Fact]
    public void WindowFullOfKeptSessions_NewSessionTakesTheSlotOfOne()
    {
        var options = new SchedulerOptions { PausePolicy = PausePolicies.Keep, Admission = new AdmissionOptions { InitialWindow = 1, MinWindow = 1, MaxWindow = 1 } };
        var h = new SchedulerHarness(options, slots: 4);
        h.Submit("a1", "A", SchedulerHarness.Tokens(20), maxNew: 1);
        h.RunUntilDone("a1");
        h.Submit("b1", "B", SchedulerHarness.Tokens(20, 900), maxNew: 1);
        var plan = h.Step();
        Assert.Equal("b1", plan.Chunks.Single().RequestId);
        Assert.Contains(plan.MemoryOps, op => op is DropOp { SessionKey: "A" });
        Assert.Equal(1, h.Scheduler.Snapshot().ResidentSessions);
    }

    [Fact]
    public void AdmissionWindowFull_NewSessionWaitsWhileTheHolderRuns_ThenRuns()
    {
        var options = new SchedulerOptions { Admission = new AdmissionOptions { InitialWindow = 1, MinWindow = 1, MaxWindow = 1 } };
        var h = new SchedulerHarness(options);
        h.Submit("a", "s1", SchedulerHarness.Tokens(10), maxNew: 3);
        h.Submit("b", "s2", SchedulerHarness.Tokens(10, 500), maxNew: 1);
        Assert.Equal(["a"], h.Step().Chunks.Select(c => c.RequestId));
        Assert.Equal(["a"], h.Step().Chunks.Select(c => c.RequestId));
        h.Step(); // a finishes; it is parked for b (adaptive, slot pressure) and holds no place any more
        Assert.Equal(["b"], h.Step().Chunks.Select(c => c.RequestId));
    }

    [Fact]
    public void CancelWhileWaiting_SessionTakesItsNextTurn()
    {
        var h = new SchedulerHarness(slots: 1);
        h.Submit("a", "A", SchedulerHarness.Tokens(10), maxNew: 50);
        h.Step();
        h.Submit("b1", "B", SchedulerHarness.Tokens(10, 500), maxNew: 1);
        h.Scheduler.Cancel("b1");
        Assert.Equal(SubmitOutcome.Accepted, h.Submit("b2", "B", SchedulerHarness.Tokens(10, 500), maxNew: 1).Outcome);
        Assert.Equal(1, h.Scheduler.Snapshot().WaitingTurns);
    }

    [Fact]
    public void FailedTruncate_ChunkIsNotApplied_TurnStartsOverFromAnEmptySlot()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Keep });
        h.Submit("t1", "s1", SchedulerHarness.Tokens(40), maxNew: 2);
        h.RunUntilDone("t1");
        var next = SchedulerHarness.Tokens(30).Concat(SchedulerHarness.Tokens(10, 900)).ToArray();
        h.Submit("t2", "s1", next, maxNew: 1);
        h.FailingOps.Add(typeof(TruncateOp));
        var failedStep = h.Step();
        Assert.IsType<TruncateOp>(failedStep.MemoryOps.Single());
        h.FailingOps.Clear();
        var chunk = h.Step().Chunks.Single();
        Assert.Equal((0, 40), (chunk.StartPosition, chunk.Tokens.Length));
        Assert.Empty(((Serving.Scheduler.Core.AgentScheduler)h.Scheduler).CheckInvariants());
    }

    [Fact]
    public void ChunkRefusedByTheEngine_OnlyThatSessionIsForgotten()
    {
        var h = new SchedulerHarness();
        h.Submit("a", "A", SchedulerHarness.Tokens(10), maxNew: 5);
        h.Submit("b", "B", SchedulerHarness.Tokens(10, 500), maxNew: 5);
        var plan = h.Scheduler.PlanStep();
        Assert.Equal(2, plan.Chunks.Count);
        var progress = new[] { new TurnProgress("b", 7, TurnState.Running) };
        h.Scheduler.Complete(plan, new StepResult(progress, [], TimeSpan.Zero, ["a"]));
        var snapshot = h.Scheduler.Snapshot();
        Assert.Equal((1, 1), (snapshot.Sessions, snapshot.RunningTurns));
        var next = h.Scheduler.PlanStep();
        Assert.Contains(next.MemoryOps, op => op is DropOp { SessionKey: "A" });
        Assert.Equal(("b", 10), (next.Chunks.Single().RequestId, next.Chunks.Single().StartPosition));
    }

    [Fact]
    public void SubmitOfAReturningSession_ReportsThePauseItEnded()
    {
        var h = new SchedulerHarness();
        Assert.Null(h.Submit("a1", "A", SchedulerHarness.Tokens(10), maxNew: 1).EndedPause);
        h.RunUntilDone("a1");
        h.Time.Advance(TimeSpan.FromSeconds(3));
        var result = h.Submit("a2", "A", SchedulerHarness.Tokens(12), maxNew: 1);
        Assert.Equal(TimeSpan.FromSeconds(3), result.EndedPause);
    }

    [Fact]
    public void SessionsBeyondTheLimit_TheLongestIdleIsForgotten_NeverAnActiveOne()
    {
        var h = new SchedulerHarness(new SchedulerOptions { MaxSessions = 3, PausePolicy = PausePolicies.Drop });
        h.Submit("a", "A", SchedulerHarness.Tokens(10), maxNew: 1);
        h.RunUntilDone("a");
        h.Time.Advance(TimeSpan.FromSeconds(1));
        h.Submit("b", "B", SchedulerHarness.Tokens(10), maxNew: 50); // stays active
        h.Submit("c", "C", SchedulerHarness.Tokens(10), maxNew: 50);
        Assert.Equal(SubmitOutcome.Accepted, h.Submit("d", "D", SchedulerHarness.Tokens(10), maxNew: 1).Outcome);
        Assert.Equal(3, h.Scheduler.Snapshot().Sessions); // A (idle) was forgotten
        Assert.Equal(SubmitOutcome.Rejected, h.Submit("e", "E", SchedulerHarness.Tokens(10), maxNew: 1).Outcome);
    }

    [Fact]
    public void PausePredictor_ManyToolNames_TracksABoundedNumber()
    {
        var predictor = new PausePredictor(TimeSpan.FromSeconds(2), maxTools: 8);
        for (var i = 0; i < 1000; i++)
        {
            predictor.Observe($"tool-{i}", TimeSpan.FromSeconds(5));
        }

        Assert.True(predictor.KnownTools <= 9);
        Assert.Equal(5, predictor.Predict("never-seen", null).TotalSeconds, 3);
    }
}
