using Serving.Scheduler.Contracts;

namespace Serving.Scheduler.Costs;

/// <summary>
/// The cost model scaled to the engine the scheduler actually drives. <see cref="EngineCostModel"/>'s defaults were
/// measured for one model on one machine; the served model may be 3× slower per decode step (a 152k-token vocabulary
/// makes every sampled token pay for a large output layer) or 50× (a 7B model). Decisions that weigh prefill against
/// decode (<see cref="Levels.DecodeFirst"/>) or recompute against park and restore (the adaptive pause policy) are only
/// right when those costs are the engine's. So every step's compute time is compared with the model's prediction for
/// it and two scales follow what the engine does: one for decode steps, one for prefill.
/// <para>
/// Each observation moves a scale towards observed / predicted by a weight of 1/n for the first steps (the first few
/// steps settle it) and <see cref="Weight"/> after; in log space, so doubling and halving weigh alike, and at most 4×
/// per step, so one stalled step (a page-fault storm, a noisy neighbour) cannot throw the scale far. A mixed step is
/// credited to its larger part, after taking off the other part's current estimate.
/// </para>
/// </summary>
public sealed class CalibratedCosts(EngineCostModel model)
{
    /// <summary>The weight of one observation once the scale has settled (≈ the last 10 steps of each kind count).</summary>
    public const double Weight = 0.1;

    private const double MaxJump = 4;
    private const double MinScale = 1e-3, MaxScale = 1e4;
    /// <summary>Below this a step's time is timer noise, not compute.</summary>
    private static readonly TimeSpan MinObservable = TimeSpan.FromMilliseconds(0.05);

    private int _decodeObservations, _prefillObservations;

    public EngineCostModel Model { get; } = model;

    /// <summary>Observed / modelled time of decode steps (1 until the engine has run one).</summary>
    public double DecodeScale { get; private set; } = 1;

    /// <summary>Observed / modelled time of prefill (1 until the engine has run one).</summary>
    public double PrefillScale { get; private set; } = 1;

    public TimeSpan DecodeStep(int sequences, long contextTokens) => Model.DecodeStep(sequences, contextTokens) * DecodeScale;

    public TimeSpan Prefill(int tokens, long startPosition = 0) => Model.Prefill(tokens, startPosition) * PrefillScale;

    public TimeSpan Park(int tokens) => Model.Park(tokens);

    public TimeSpan Restore(int tokens) => Model.Restore(tokens);

    /// <summary>Learns from one engine step: its chunks and the time the engine took for them (memory ops excluded).</summary>
    public void Observe(IReadOnlyList<PlannedChunk> chunks, TimeSpan compute)
    {
        if (chunks.Count == 0 || compute < MinObservable)
        {
            return;
        }

        var (decode, prefill) = Model.Split(chunks.Select(c => (c.Tokens.Length, (long)c.StartPosition, c.IsDecode)));
        var decodeEstimate = decode * DecodeScale;
        var prefillEstimate = prefill * PrefillScale;
        if (prefillEstimate >= decodeEstimate && prefill > TimeSpan.Zero)
        {
            PrefillScale = Move(PrefillScale, Remainder(compute, decodeEstimate) / prefill, ref _prefillObservations);
        }
        else if (decode > TimeSpan.Zero)
        {
            DecodeScale = Move(DecodeScale, Remainder(compute, prefillEstimate) / decode, ref _decodeObservations);
        }
    }

    /// <summary>What the step took beyond its other part; never below a tenth of the step (the other part's estimate may be high).</summary>
    private static TimeSpan Remainder(TimeSpan compute, TimeSpan other) =>
        compute - other > compute / 10 ? compute - other : compute / 10;

    private static double Move(double scale, double observed, ref int observations)
    {
        observations++;
        var weight = Math.Max(Weight, 1.0 / observations);
        var target = Math.Clamp(observed, scale / MaxJump, scale * MaxJump);
        var moved = Math.Exp((1 - weight) * Math.Log(scale) + weight * Math.Log(target));
        return Math.Clamp(moved, MinScale, MaxScale);
    }
}
