using Serving.Scheduler.Contracts;
using Serving.Scheduler.Tests.Support;

namespace Serving.Scheduler.Tests.Core;

public sealed class AgentSchedulerTests
{
    private static readonly SchedulerOptions Fcfs = new() { Scheduling = SchedulingPolicies.Fcfs };

    [Fact]
    public void PlanStep_NewShortTurn_PrefillsWholePromptInOneChunkWithLogits()
    {
        var h = new SchedulerHarness();
        h.Submit("r1", "s1", SchedulerHarness.Tokens(100));
        var plan = h.Scheduler.PlanStep();
        var chunk = Assert.Single(plan.Chunks);
        Assert.Equal(("r1", 0, 0, true, false), (chunk.RequestId, chunk.Slot, chunk.StartPosition, chunk.WantLogits, chunk.IsDecode));
        Assert.Equal(SchedulerHarness.Tokens(100), chunk.Tokens);
        Assert.Empty(plan.MemoryOps);
    }

    [Fact]
    public void PlanStep_LongPrompt_ChunksByLevelAllowanceAndDemotesAfterEachFullAllowance()
    {
        var h = new SchedulerHarness(batch: 4096, contextPerSlot: 8192, options: new SchedulerOptions { MaxBatchTokens = 4096 });
        h.Submit("r1", "s1", SchedulerHarness.Tokens(3000));
        var sizes = Enumerable.Range(0, 5).Select(_ => h.Step().Chunks.Single().Tokens.Length).ToList();
        // 3000 uncached tokens start on level 1 (≤ 8K): 1024, demoted to 2: 512, to 3: 256, then 256s.
        Assert.Equal([1024, 512, 256, 256, 256], sizes);
    }

    [Fact]
    public void PlanStep_Mixed_DecodesFirst_ThenPrefillsWithinTheStepBudget()
    {
        var h = new SchedulerHarness(options: new SchedulerOptions { MaxBatchTokens = 64, DecodeFirst = false }, batch: 64);
        h.Submit("a", "s1", SchedulerHarness.Tokens(10), maxNew: 5);
        h.Step();
        h.Submit("b", "s2", SchedulerHarness.Tokens(200));
        var plan = h.Step();
        Assert.Equal(2, plan.Chunks.Count);
        Assert.True(plan.Chunks[0].IsDecode);
        Assert.Equal(("a", 10, 1), (plan.Chunks[0].RequestId, plan.Chunks[0].StartPosition, plan.Chunks[0].Tokens.Length));
        Assert.Equal(("b", 0, 63, false), (plan.Chunks[1].RequestId, plan.Chunks[1].StartPosition, plan.Chunks[1].Tokens.Length, plan.Chunks[1].WantLogits));
    }

    [Fact]
    public void PlanStep_DecodeFirst_ShortAnswerFinishesBeforeALongPrefillStarts()
    {
        var h = new SchedulerHarness(options: new SchedulerOptions { MaxBatchTokens = 64 }, batch: 64);
        h.Submit("a", "s1", SchedulerHarness.Tokens(10), maxNew: 5);
        h.Step();
        h.Submit("b", "s2", SchedulerHarness.Tokens(200));
        // a has 4 tokens to go (≈ 18 ms of decode steps); b's prefill is ≈ 270 ms: a alone first, then b.
        var plans = h.RunUntilDone("a");
        Assert.All(plans, p => Assert.Equal("a", p.Chunks.Single().RequestId));
        Assert.Equal("b", h.Step().Chunks.Single().RequestId);
    }

    [Fact]
    public void PlanStep_DecodeFirst_AYoungerSessionsDecodeDoesNotHoldBackAnOlderSessionsPrefill()
    {
        var h = new SchedulerHarness(options: new SchedulerOptions { MaxBatchTokens = 64 }, batch: 64);
        h.Submit("old-1", "old", SchedulerHarness.Tokens(10), maxNew: 1);
        h.RunUntilDone("old-1");
        h.Submit("young", "young", SchedulerHarness.Tokens(10, 5000), maxNew: 5);
        h.Step();
        // The older session returns with a long prompt while the younger one has 4 tokens to go. Between two sessions
        // of one rank the short answer would go alone first (see above); here the older session ranks first.
        h.Submit("old-2", "old", SchedulerHarness.Tokens(200));
        Assert.Equal(["young", "old-2"], h.Step().Chunks.Select(c => c.RequestId));
    }

    [Fact]
    public void PlanStep_DecodeFirst_LongAnswerLetsAShortPrefillRideAlong()
    {
        var h = new SchedulerHarness(options: new SchedulerOptions { MaxBatchTokens = 64 }, batch: 64);
        h.Submit("a", "s1", SchedulerHarness.Tokens(10), maxNew: 2000);
        h.Step();
        h.Submit("b", "s2", SchedulerHarness.Tokens(20));
        // a's expected remaining answer (the 128-token prior) takes ≈ 0.5 s; b's prefill ≈ 27 ms: both in one step.
        Assert.Equal(["a", "b"], h.Step().Chunks.Select(c => c.RequestId));
    }

    [Fact]
    public void PlanStep_DecodeFirst_ManyTurnsWaitingForPrefill_EveryStepCarriesPrefill()
    {
        var h = new SchedulerHarness(options: new SchedulerOptions { MaxBatchTokens = 64 }, slots: 2, batch: 64);
        h.Submit("a", "s1", SchedulerHarness.Tokens(10), maxNew: 40);
        h.Step();
        for (var i = 0; i < 20; i++)
        {
            h.Submit($"w{i}", $"sw{i}", SchedulerHarness.Tokens(150, 1000 * (i + 1)));
        }

        // Decoding a alone (≈ 0.17 s to go) would delay 20 turns waiting for prefill; prefilling first delays only a,
        // by ≈ 0.2 s. With one turn waiting, a would go alone first.
        Assert.Contains(h.Step().Chunks, c => !c.IsDecode);
    }

    [Theory]
    [InlineData(1, 0.01, 1, 0.1, true)]
    [InlineData(1, 0.2, 1, 0.1, false)]
    [InlineData(4, 0.2, 1, 0.1, true)]
    [InlineData(4, 0.2, 5, 0.1, false)]
    [InlineData(0, 0.0, 1, 0.1, false)]
    public void DecodeFirst_ComparesTheDelayEachChoiceCausesOthers(int decoding, double remainingDecode, int waiting, double headPrefill, bool deferred) =>
        Assert.Equal(deferred, Levels.DecodeFirst.DeferPrefill(decoding, TimeSpan.FromSeconds(remainingDecode), waiting, TimeSpan.FromSeconds(headPrefill)));

    [Fact]
    public void OutputLengthEstimate_FollowsFinishedTurns_AndAssumesALongTurnRunsOn()
    {
        var estimate = new Levels.OutputLengthEstimate(initialTokens: 100, weight: 0.5);
        Assert.Equal(100, estimate.Remaining(0, 4096));
        Assert.Equal(30, estimate.Remaining(0, 30));
        estimate.Observe(20);
        Assert.Equal(60, estimate.AverageTokens);
        Assert.Equal(50, estimate.Remaining(10, 4096));
        Assert.Equal(200, estimate.Remaining(200, 4096));
        Assert.Equal(0, estimate.Remaining(30, 30));
    }

    [Theory]
    [InlineData(SchedulingPolicies.Mlfq, "short")]
    [InlineData(SchedulingPolicies.Fcfs, "long")]
    public void PlanStep_OneSlotTwoWaiting_MlfqPlacesShortFirstFcfsPlacesArrivalFirst(string policy, string expectedFirst)
    {
        var h = new SchedulerHarness(new SchedulerOptions { Scheduling = policy }, slots: 1);
        h.Submit("long", "s1", SchedulerHarness.Tokens(3000));
        h.Submit("short", "s2", SchedulerHarness.Tokens(50));
        Assert.Equal(expectedFirst, h.Scheduler.PlanStep().Chunks.Single().RequestId);
    }

    [Fact]
    public void Submit_SecondTurnExtendingTheFirst_ReportsPromptPlusDecodedTokensAsCached()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Keep });
        var prompt = SchedulerHarness.Tokens(40);
        h.Submit("t1", "s1", prompt, maxNew: 3);
        h.RunUntilDone("t1");
        // KV holds the prompt and the two sampled tokens that were fed back (the last one never is).
        var next = prompt.Concat([7, 7, 7]).Concat(SchedulerHarness.Tokens(20, 500)).ToArray();
        h.Submit("t2", "s1", next, maxNew: 1);
        var plan = h.Step();
        var chunk = plan.Chunks.Single();
        Assert.Equal(42, chunk.StartPosition);
        Assert.Equal(next.Length - 42, chunk.Tokens.Length);
        Assert.Empty(plan.MemoryOps);
    }

    [Fact]
    public void Submit_DivergingPrompt_TruncatesTheSlotToTheCommonPrefix()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Keep });
        h.Submit("t1", "s1", SchedulerHarness.Tokens(40), maxNew: 2);
        h.RunUntilDone("t1");
        h.Submit("t2", "s1", SchedulerHarness.Tokens(30).Concat(SchedulerHarness.Tokens(10, 900)).ToArray(), maxNew: 1);
        var plan = h.Step();
        Assert.Equal(new TruncateOp("s1", 0, 30), Assert.Single(plan.MemoryOps));
        Assert.Equal(30, plan.Chunks.Single().StartPosition);
    }

    [Fact]
    public void PausePolicyDrop_TurnEnds_DropsTheSlotAndNextTurnRecomputes()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Drop });
        h.Submit("t1", "s1", SchedulerHarness.Tokens(40), maxNew: 2);
        h.RunUntilDone("t1");
        var drop = h.Step();
        Assert.Equal(new DropOp("s1", 0, null), Assert.Single(drop.MemoryOps));
        h.Submit("t2", "s1", SchedulerHarness.Tokens(60), maxNew: 1);
        Assert.Equal(0, h.Step().Chunks.Single().StartPosition);
    }

    [Fact]
    public void PausePolicyTtl_KeepsForTwoSecondsThenDrops()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Ttl });
        h.Submit("t1", "s1", SchedulerHarness.Tokens(40), maxNew: 2);
        h.RunUntilDone("t1");
        h.Time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Empty(h.Step().MemoryOps);
        h.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(new DropOp("s1", 0, null), Assert.Single(h.Step().MemoryOps));
    }

    [Fact]
    public void PausePolicyAdaptive_NoPressure_StaysResidentAndTheReturnCostsNothing()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Adaptive });
        var prompt = SchedulerHarness.Tokens(40);
        h.Submit("t1", "s1", prompt, maxNew: 2);
        h.RunUntilDone("t1");
        h.Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(h.Step().MemoryOps);
        h.Submit("t2", "s1", prompt.Concat([7, 7]).ToArray(), maxNew: 1);
        var plan = h.Step();
        Assert.Empty(plan.MemoryOps);
        Assert.Equal(41, plan.Chunks.Single().StartPosition);
    }

    [Fact]
    public void PausePolicyAdaptive_TurnEndsWhileOthersWait_ParksAtOnceAndRestoresOnReturn()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Adaptive }, slots: 1);
        var prompt = SchedulerHarness.Tokens(40);
        h.Submit("a1", "A", prompt, maxNew: 2);
        h.Step();
        h.Submit("b1", "B", SchedulerHarness.Tokens(30, 700), maxNew: 1);
        h.RunUntilDone("a1");
        var handover = h.Step();
        Assert.Equal(new ParkOp("A", 0, "kv:A"), Assert.Single(handover.MemoryOps));
        Assert.Equal(("b1", 0), (handover.Chunks.Single().RequestId, handover.Chunks.Single().Slot));

        h.Submit("a2", "A", prompt.Concat([7, 7]).ToArray(), maxNew: 1);
        var back = h.Step(); // B finished last step with A waiting: B is parked, A restored
        Assert.Equal([new ParkOp("B", 0, "kv:B"), new RestoreOp("A", "kv:A", 0)], back.MemoryOps);
        // The restore runs before the batch: A continues in the same step.
        Assert.Equal(("a2", 41), (back.Chunks.Single().RequestId, back.Chunks.Single().StartPosition));
    }

    [Fact]
    public void PausePolicyAdaptive_LongPauseWhileKvUseIsHigh_ParksAtOnce()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Adaptive, BlockSize = 16 }, slots: 1, contextPerSlot: 64, batch: 64);
        h.Submit("t1", "s1", SchedulerHarness.Tokens(60), maxNew: 2, hintMs: 30_000);
        h.RunUntilDone("t1");
        Assert.IsType<ParkOp>(Assert.Single(h.Step().MemoryOps));
    }

    [Theory]
    [InlineData(PausePolicies.Adaptive, typeof(ParkOp))]
    [InlineData(PausePolicies.Keep, typeof(DropOp))]
    public void PlanStep_SlotNeededByWaitingTurn_EvictsTheKeptSession(string policy, Type expectedOp)
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = policy }, slots: 1);
        h.Submit("t1", "s1", SchedulerHarness.Tokens(40), maxNew: 2, hintMs: 100);
        h.RunUntilDone("t1");
        h.Submit("t2", "s2", SchedulerHarness.Tokens(30), maxNew: 1);
        var plan = h.Step();
        Assert.IsType(expectedOp, Assert.Single(plan.MemoryOps));
        Assert.Equal(("t2", 0), (plan.Chunks.Single().RequestId, plan.Chunks.Single().Slot));
        Assert.Equal(1, h.Scheduler.Snapshot().Counters.Preemptions);
    }

    [Fact]
    public void Complete_RestoreFailed_TurnRecomputesFromPositionZero()
    {
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = PausePolicies.Adaptive }, slots: 1);
        var prompt = SchedulerHarness.Tokens(40);
        h.Submit("a1", "A", prompt, maxNew: 2);
        h.Step();
        h.Submit("b1", "B", SchedulerHarness.Tokens(30, 700), maxNew: 1, final: true);
        h.RunUntilDone("a1");
        h.Step(); // A parked, B runs and ends
        h.FailingOps.Add(typeof(RestoreOp));
        h.Submit("a2", "A", prompt.Concat([7, 7]).ToArray(), maxNew: 1);
        var failed = h.Step();
        Assert.Contains(failed.MemoryOps, op => op is RestoreOp); // fails: the chunk planned beside it is skipped
        Assert.Equal(41, failed.Chunks.Single().StartPosition);
        var chunk = h.Step().Chunks.Single();
        Assert.Equal((0, 42), (chunk.StartPosition, chunk.Tokens.Length));
        Assert.Equal(1, h.Scheduler.Snapshot().Counters.RestoreFailures);
    }

    [Fact]
    public void Submit_TooLongOrQueueFullOrSessionBusy_RefusedWithoutChangingState()
    {
        var h = new SchedulerHarness(new SchedulerOptions { MaxWaitingTurns = 1 }, contextPerSlot: 100);
        Assert.Equal(SubmitOutcome.ContextTooLong, h.Submit("x", "s0", SchedulerHarness.Tokens(90), maxNew: 20).Outcome);
        Assert.Equal(SubmitOutcome.Accepted, h.Submit("a", "s1", SchedulerHarness.Tokens(10)).Outcome);
        Assert.Equal(SubmitOutcome.SessionBusy, h.Submit("b", "s1", SchedulerHarness.Tokens(10)).Outcome);
        var full = h.Submit("c", "s2", SchedulerHarness.Tokens(10));
        Assert.Equal((SubmitOutcome.Rejected, TimeSpan.FromSeconds(1)), (full.Outcome, full.RetryAfter));
        Assert.Equal((1, 1), (h.Scheduler.Snapshot().WaitingTurns, h.Scheduler.Snapshot().Sessions));
    }

    [Fact]
    public void PlanStep_AdmissionWindowFull_NewSessionWaitsUntilAnEarlierOneEnds()
    {
        var options = new SchedulerOptions { Admission = new AdmissionOptions { InitialWindow = 1, MinWindow = 1, MaxWindow = 1 } };
        var h = new SchedulerHarness(options);
        h.Submit("a", "s1", SchedulerHarness.Tokens(10), maxNew: 1, final: true);
        h.Submit("b", "s2", SchedulerHarness.Tokens(10), maxNew: 1);
        Assert.Equal(["a"], h.Step().Chunks.Select(c => c.RequestId));
        Assert.Equal(["b"], h.Step().Chunks.Select(c => c.RequestId));
    }

    [Fact]
    public void EndSession_ParkedSession_DropsItsEntryAndForgetsIt()
    {
        var h = new SchedulerHarness(new SchedulerOptions(), slots: 1);
        h.Submit("a1", "A", SchedulerHarness.Tokens(40), maxNew: 2);
        h.Step();
        h.Submit("b1", "B", SchedulerHarness.Tokens(30, 700), maxNew: 1, final: true);
        h.RunUntilDone("a1");
        Assert.IsType<ParkOp>(h.Step().MemoryOps.Single());
        h.Scheduler.EndSession("A");
        Assert.Contains(new DropOp("A", null, "kv:A"), h.Step().MemoryOps);
        Assert.Equal(0, h.Scheduler.Snapshot().ParkedSessions);
    }

    [Fact]
    public void Options_Invalid_AllErrorsReportedAtOnce()
    {
        var errors = new SchedulerOptions { Scheduling = "lifo", PausePolicy = "forever", BlockSize = 0 }.Validate();
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("lifo"));
        Assert.Throws<ArgumentException>(() => new SchedulerHarness(new SchedulerOptions { PausePolicy = "forever" }));
    }

    [Fact]
    public void Place_NewSessionSharingAPrefixWithAResidentOne_CopiesAndTruncatesInsteadOfPrefilling()
    {
        var h = new SchedulerHarness();
        var system = SchedulerHarness.Tokens(100);
        h.Scheduler.Submit(new TurnRequest("a1", "tenant:a", [.. system, .. SchedulerHarness.Tokens(20, 500)], 1, false, null, "tenant"));
        h.MaxTokens["a1"] = 1;
        h.RunUntilDone("a1");
        h.Scheduler.Submit(new TurnRequest("b1", "tenant:b", [.. system, .. SchedulerHarness.Tokens(30, 900)], 1, false, null, "tenant"));
        h.MaxTokens["b1"] = 1;
        var plan = h.Step();
        Assert.Equal([new CopyOp("tenant:b", 0, 1), new TruncateOp("tenant:b", 1, 96)], plan.MemoryOps); // whole blocks of 16
        Assert.Equal((1, 96, 34), (plan.Chunks.Single().Slot, plan.Chunks.Single().StartPosition, plan.Chunks.Single().Tokens.Length));
        Assert.Equal(1, h.Scheduler.Snapshot().Counters.PrefixShares);
    }

    [Fact]
    public void Place_SamePrefixOtherScope_NeverShares()
    {
        var h = new SchedulerHarness();
        var system = SchedulerHarness.Tokens(100);
        h.Scheduler.Submit(new TurnRequest("a1", "x:a", [.. system, 1, 2], 1, false, null, "tenant-x"));
        h.MaxTokens["a1"] = 1;
        h.RunUntilDone("a1");
        h.Scheduler.Submit(new TurnRequest("b1", "y:b", [.. system, 3, 4], 1, false, null, "tenant-y"));
        h.MaxTokens["b1"] = 1;
        var plan = h.Step();
        Assert.Empty(plan.MemoryOps);
        Assert.Equal(0, plan.Chunks.Single().StartPosition);
    }
}
