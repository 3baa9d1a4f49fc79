using Serving.Scheduler.Tests.Support;

namespace Serving.Scheduler.Tests.Core;

/// <summary>Among equals the session that started first; optional attained-service levels (PLAS); aging.</summary>
public sealed class PriorityTests
{
    private static readonly SchedulerOptions Plas = new() { MaxBatchTokens = 2048, PausePolicy = PausePolicies.Drop, ServiceThresholds = [1024, 2048, 4096] };

    /// <summary>Session "old" has been served 1,202 tokens (level 1 with <see cref="Plas"/>), then dropped its KV.</summary>
    private static SchedulerHarness WithServedSession(SchedulerOptions options)
    {
        var h = new SchedulerHarness(options, slots: 1, batch: 2048);
        h.Submit("old1", "old", SchedulerHarness.Tokens(1200), maxNew: 2);
        h.RunUntilDone("old1");
        return h;
    }

    [Fact]
    public void PlanStep_OneSlotTwoWaitingEqualLevels_SessionThatStartedFirstGoesFirst()
    {
        var h = WithServedSession(new SchedulerOptions { MaxBatchTokens = 2048, PausePolicy = PausePolicies.Drop });
        h.Submit("new1", "new", SchedulerHarness.Tokens(200, 5000), maxNew: 1); // arrives first, and is smaller
        h.Submit("old2", "old", SchedulerHarness.Tokens(1300), maxNew: 1);
        Assert.Equal("old2", h.Step().Chunks.Single().RequestId);
    }

    [Fact]
    public void PlanStep_ServiceLevelsOn_SessionWithLessAttainedServiceGoesFirst()
    {
        var h = WithServedSession(Plas);
        h.Submit("old2", "old", SchedulerHarness.Tokens(1300), maxNew: 1);
        h.Submit("new1", "new", SchedulerHarness.Tokens(200, 5000), maxNew: 1);
        Assert.Equal("new1", h.Step().Chunks.Single().RequestId);
    }

    [Fact]
    public void PlanStep_ServiceLevelsOnAndTheServedSessionWaitedAnAgingInterval_ItClimbsBackAndGoesFirst()
    {
        var h = WithServedSession(Plas with { AgingInterval = TimeSpan.FromSeconds(5) });
        h.Submit("old2", "old", SchedulerHarness.Tokens(1300), maxNew: 1);
        h.Time.Advance(TimeSpan.FromSeconds(5));
        h.Submit("new1", "new", SchedulerHarness.Tokens(200, 5000), maxNew: 1);
        Assert.Equal("old2", h.Step().Chunks.Single().RequestId);
    }

    [Fact]
    public void PlanStep_TwoPrefillsShareTheBudget_TheEarlierSessionsPrefillIsServedFirst()
    {
        var h = new SchedulerHarness(new SchedulerOptions { MaxBatchTokens = 128 }, slots: 2, batch: 128);
        h.Submit("long", "s1", SchedulerHarness.Tokens(300), maxNew: 1);
        h.Submit("short", "s2", SchedulerHarness.Tokens(100, 1000), maxNew: 1);
        // Not round-robin: the earlier session's prefill runs to its end before the later one starts.
        var steps = Enumerable.Range(0, 3).Select(_ => h.Step().Chunks.Select(c => (c.RequestId, c.Tokens.Length)).ToList()).ToList();
        Assert.Equal([[("long", 128)], [("long", 128)], [("long", 44), ("short", 84)]], steps);
    }
}
