namespace Serving.Scheduler.Levels;

/// <summary>
/// Whether a step should leave its prefill chunks out so the decoding turns finish sooner. An agent waits for a
/// turn's whole answer (it needs the complete tool call), so what counts is when each turn finishes. A prefill chunk
/// in the step delays every decoding turn by the chunk's compute (≈ 0.4 s for 512 tokens here, against ≈ 20 ms for a
/// decode step); decode-only steps instead cost machine time that mixed steps would not (decodes ride along with a
/// chunk almost for free), which delays every turn waiting for its prefill.
/// <para>
/// The rule compares the two delays, in the spirit of Smith's rule (weighted shortest processing time) for the sum of
/// finish times: <c>D</c> decoding turns finish after <c>T_d</c> (the longest expected remaining decode); running the
/// head prefill first delays them by its <c>P</c> (cost <c>D·P</c>); running the decodes alone first delays the
/// <c>W</c> turns waiting for prefill by <c>T_d</c> (cost <c>W·T_d</c>). Decodes first exactly when <c>W·T_d &lt; D·P</c>:
/// under light load (few waiting) short answers finish first; under overload (many waiting) every step carries
/// prefill, so throughput is never given away.
/// </para>
/// <para>
/// No starvation: while prefills wait, no new decoding turn can start (decoding turns only come from finished
/// prefills), so the decoding set only shrinks, and a turn that outgrows its estimate raises <c>T_d</c> (see
/// <see cref="OutputLengthEstimate"/>) until the prefill goes first.
/// </para>
/// </summary>
public static class DecodeFirst
{
    /// <param name="waitingTurns">Turns waiting for prefill: placed and not yet prefilled, and not yet placed.</param>
    public static bool DeferPrefill(int decodingTurns, TimeSpan longestRemainingDecode, int waitingTurns, TimeSpan headPrefill) =>
        decodingTurns > 0 && longestRemainingDecode * waitingTurns < headPrefill * decodingTurns;
}

/// <summary>
/// Expected remaining answer tokens of a decoding turn: the worker's running average answer length (EWMA over
/// finished turns) minus what the turn generated, at least what it generated so far (a turn past the average is
/// likely a long one: heavy tail), never more than its <c>max_tokens</c> allows.
/// </summary>
public sealed class OutputLengthEstimate(double initialTokens = 128, double weight = 0.1)
{
    public double AverageTokens { get; private set; } = initialTokens;

    public void Observe(int generated) => AverageTokens += weight * (generated - AverageTokens);

    public int Remaining(int generated, int maxNewTokens)
    {
        var expected = Math.Max(Math.Max(AverageTokens - generated, generated), 8);
        return (int)Math.Min(expected, Math.Max(0, maxNewTokens - generated));
    }
}
