using Serving.Scheduler.Admission;
using Serving.Scheduler.Levels;
using Serving.Scheduler.Pauses;

namespace Serving.Scheduler.Tests.Core;

public sealed class LevelsAndAdmissionTests
{
    [Fact]
    public void AdaptiveEviction_LongOverdueSessionBeforeLongPredictedBeforeJustPaused()
    {
        var policy = PausePolicyFactory.Create(new SchedulerOptions(), new Costs.CalibratedCosts(new Costs.EngineCostModel()));
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var justPaused = policy.EvictionScore(now.AddSeconds(-0.5), TimeSpan.FromSeconds(2), now);
        var longPredicted = policy.EvictionScore(now.AddSeconds(-0.5), TimeSpan.FromSeconds(30), now);
        var abandoned = policy.EvictionScore(now.AddSeconds(-90), TimeSpan.FromSeconds(2), now);
        Assert.True(abandoned > longPredicted && longPredicted > justPaused, $"{abandoned} / {longPredicted} / {justPaused}");
    }

    private static readonly int[] Thresholds = [2048, 8192, 32768];

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2048, 0)]
    [InlineData(2049, 1)]
    [InlineData(8192, 1)]
    [InlineData(8193, 2)]
    [InlineData(32768, 2)]
    [InlineData(32769, 3)]
    public void SizeLevel_UncachedPrefill_PlacesByMarsThresholds(int tokens, int level) =>
        Assert.Equal(level, MlfqLevels.SizeLevel(tokens, Thresholds));

    [Theory]
    [InlineData(3, 29, 3)]
    [InlineData(3, 30, 2)]
    [InlineData(3, 65, 1)]
    [InlineData(1, 200, 0)]
    public void Effective_UnservedFor30Seconds_PromotesOneLevel(int level, int unservedSeconds, int expected) =>
        Assert.Equal(expected, MlfqLevels.Effective(0, level, TimeSpan.FromSeconds(unservedSeconds), TimeSpan.FromSeconds(30)));

    [Fact]
    public void Aimd_KvAboveHighMark_ShrinksByPointSevenToTheFloorThenRecoversBelowLowMark()
    {
        var start = DateTimeOffset.UnixEpoch;
        var aimd = new AimdAdmission(new AdmissionOptions { InitialWindow = 32 }, start);
        var windows = new List<int>();
        var usage = new[] { 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.87, 0.84, 0.84 };
        for (var i = 0; i < usage.Length; i++)
        {
            aimd.Tick(start + TimeSpan.FromMilliseconds(200 * (i + 1)), usage[i], queueOverloaded: false);
            windows.Add(aimd.Window);
        }

        // ×0.7 floored: 22, 15, 10, 7, 4, floor 4; 0.87 is still overloaded (hysteresis); below 0.85 grows by one.
        Assert.Equal([22, 15, 10, 7, 4, 4, 4, 5, 6], windows);
    }

    [Fact]
    public void Aimd_QueueOverloaded_ShrinksEvenWithLowKvUse()
    {
        var start = DateTimeOffset.UnixEpoch;
        var aimd = new AimdAdmission(new AdmissionOptions { InitialWindow = 10 }, start);
        aimd.Tick(start + TimeSpan.FromMilliseconds(200), 0.1, queueOverloaded: true);
        Assert.Equal(7, aimd.Window);
    }

    [Fact]
    public void PausePredictor_HintBeatsHistoryBeatsDefault()
    {
        var predictor = new PausePredictor(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), predictor.Predict("pytest", null));
        predictor.Observe("pytest", TimeSpan.FromSeconds(10));
        Assert.Equal(10, predictor.Predict("pytest", null).TotalSeconds, 3);
        Assert.Equal(TimeSpan.FromMilliseconds(300), predictor.Predict("pytest", 300));
        predictor.Observe("pytest", TimeSpan.FromSeconds(0.1));
        // Log-space EWMA: one short sample pulls the estimate down geometrically (10^0.7 · 0.1^0.3 ≈ 2.5 s).
        Assert.Equal(2.51, predictor.Predict("pytest", null).TotalSeconds, 2);
    }
}
