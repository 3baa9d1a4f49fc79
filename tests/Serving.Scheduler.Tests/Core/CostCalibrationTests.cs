using Serving.Scheduler.Contracts;
using Serving.Scheduler.Costs;
using Serving.Scheduler.Tests.Support;

namespace Serving.Scheduler.Tests.Core;

public class CostCalibrationTests
{
    private static readonly EngineCostModel Model = new();

    private static PlannedChunk Decode(int slot, int position) => new($"r{slot}", slot, position, [7], WantLogits: true, IsDecode: true);

    private static PlannedChunk Prefill(int slot, int position, int tokens) =>
        new($"r{slot}", slot, position, Enumerable.Repeat(5, tokens).ToArray(), WantLogits: false, IsDecode: false);

    private static TimeSpan Predicted(params PlannedChunk[] chunks) => Model.Step(chunks.Select(c => (c.Tokens.Length, (long)c.StartPosition, c.IsDecode)));

    [Fact]
    public void Decode_steps_three_times_slower_than_the_model_scale_decode_only()
    {
        var costs = new CalibratedCosts(Model);
        PlannedChunk[] step = [Decode(0, 900), Decode(1, 1200), Decode(2, 300)];
        for (var i = 0; i < 40; i++)
        {
            costs.Observe(step, Predicted(step) * 3);
        }

        Assert.InRange(costs.DecodeScale, 2.9, 3.1);
        Assert.Equal(1, costs.PrefillScale);
        Assert.InRange(costs.DecodeStep(4, 2000) / Model.DecodeStep(4, 2000), 2.9, 3.1);
    }

    [Fact]
    public void Prefill_faster_than_the_model_scales_prefill_and_a_mixed_step_is_credited_to_its_larger_part()
    {
        var costs = new CalibratedCosts(Model);
        PlannedChunk[] prefillOnly = [Prefill(0, 0, 512)];
        for (var i = 0; i < 40; i++)
        {
            costs.Observe(prefillOnly, Predicted(prefillOnly) / 2);
        }

        Assert.InRange(costs.PrefillScale, 0.48, 0.52);

        // 512 prefill tokens and one decode: the decode's current estimate is taken off, the rest is prefill's.
        PlannedChunk[] mixed = [Prefill(0, 512, 512), Decode(1, 100)];
        var (decode, prefill) = Model.Split(mixed.Select(c => (c.Tokens.Length, (long)c.StartPosition, c.IsDecode)));
        costs.Observe(mixed, decode + prefill / 2);
        Assert.InRange(costs.PrefillScale, 0.48, 0.52);
        Assert.Equal(1, costs.DecodeScale);
    }

    [Fact]
    public void One_stalled_step_moves_a_settled_scale_by_little_and_timer_noise_teaches_nothing()
    {
        var costs = new CalibratedCosts(Model);
        PlannedChunk[] step = [Decode(0, 1000)];
        for (var i = 0; i < 40; i++)
        {
            costs.Observe(step, Predicted(step));
        }

        costs.Observe(step, Predicted(step) * 100);
        Assert.InRange(costs.DecodeScale, 1.0, 1.2);

        var settled = costs.DecodeScale;
        costs.Observe(step, TimeSpan.FromTicks(1));
        costs.Observe([], TimeSpan.FromSeconds(1));
        Assert.Equal(settled, costs.DecodeScale);
    }

    [Fact]
    public void A_slow_decoding_engine_makes_the_scheduler_stop_deferring_prefill_for_a_long_answer()
    {
        // Turn a is answering (up to 100 tokens) when b arrives with 1,000 tokens to prefill. At the model's decode
        // cost, a's remaining answer (≈ 0.4 s) is shorter than b's prefill (≈ 0.8 s): decode first, b waits. On an
        // engine whose decode steps take 5× as long, a's answer would hold b back ≈ 2 s: b's prefill joins the steps.
        foreach (var (slowdown, prefillJoins) in new[] { (1.0, false), (5.0, true) })
        {
            var harness = new SchedulerHarness { DecodeSlowdown = slowdown };
            harness.Submit("a", "sa", SchedulerHarness.Tokens(32), maxNew: 100);
            for (var i = 0; i < 12; i++)
            {
                harness.Step();
            }

            Assert.InRange(harness.Scheduler.Snapshot().CostScales.Decode, slowdown * 0.8, slowdown * 1.2);
            harness.Submit("b", "sb", SchedulerHarness.Tokens(1000, start: 5000), maxNew: 4);
            var plan = harness.Step();
            Assert.Contains(plan.Chunks, c => c.RequestId == "a" && c.IsDecode);
            Assert.Equal(prefillJoins, plan.Chunks.Any(c => c.RequestId == "b"));
        }
    }
}
