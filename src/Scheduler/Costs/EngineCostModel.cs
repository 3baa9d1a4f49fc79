namespace Serving.Scheduler.Costs;

/// <summary>
/// How long engine work takes, as a deterministic formula. Used three ways: by the adaptive tool-pause policy
/// (is restoring cheaper than recomputing?), by the simulated engine (to charge virtual time), and by the
/// large-scale simulation. Defaults are the medians measured for the 125M-parameter F16 model on 2 cores
/// (see shared/reference/llama-native-notes.md §4); they are ±15 % on that noisy machine.
/// </summary>
public sealed record EngineCostModel
{
    /// <summary>
    /// Prefill throughput of one sequence with no context before it, attention aside (tokens/s). With
    /// <see cref="PrefillPerContextTokenMs"/> this reproduces llama-bench's pp512 at depth 0, 1500 and 3000 on this
    /// machine: 1389, 733 and 503 tok/s.
    /// </summary>
    public double PrefillTokensPerSecond { get; init; } = 1600;

    /// <summary>
    /// Extra prefill cost of each prompt token per token before it in the sequence (ms): attention, which on CPU
    /// dominates past a thousand or so tokens of context for a small model (≈ 0.42 µs measured).
    /// </summary>
    public double PrefillPerContextTokenMs { get; init; } = 0.00042;

    /// <summary>Fixed part of one decode step (ms): step(B) ≈ fixed + perSequence·B for B ≥ 4.</summary>
    public double DecodeStepFixedMs { get; init; } = 4.0;

    /// <summary>Cost of each sequence in a decode step (ms).</summary>
    public double DecodePerSequenceMs { get; init; } = 1.9;

    /// <summary>Extra decode cost per cached context token per sequence (ms); measured ≈ 1.5 µs.</summary>
    public double DecodePerContextTokenMs { get; init; } = 0.0015;

    /// <summary>KV bytes per token (F16, 12 layers × 2 × 256 × 2 B plus metadata ≈ 12.3 KB).</summary>
    public double KvBytesPerToken { get; init; } = 12_300;

    /// <summary>Copying a sequence out to host memory (bytes/s): 12.6 MB in ≈ 0.65 ms (get + rm).</summary>
    public double ParkBytesPerSecond { get; init; } = 19e9;

    /// <summary>Copying a sequence back in (bytes/s): 12.6 MB in ≈ 0.85 ms.</summary>
    public double RestoreBytesPerSecond { get; init; } = 14.8e9;

    /// <summary>Writing or reading a spilled blob on disk (bytes/s): 12.6 MB in 14–50 ms.</summary>
    public double DiskBytesPerSecond { get; init; } = 500e6;

    /// <summary>Prefilling <paramref name="tokens"/> tokens that start at <paramref name="startPosition"/> in their sequence.</summary>
    public TimeSpan Prefill(int tokens, long startPosition = 0) =>
        TimeSpan.FromSeconds(tokens / PrefillTokensPerSecond + tokens * (startPosition + tokens / 2.0) * PrefillPerContextTokenMs / 1000);

    /// <summary>One decode step over <paramref name="sequences"/> sequences holding <paramref name="contextTokens"/> in total.</summary>
    public TimeSpan DecodeStep(int sequences, long contextTokens)
    {
        if (sequences <= 0)
        {
            return TimeSpan.Zero;
        }

        // B = 1 uses ggml's gemv path (≈4.4 ms); B ≥ 2 switches to tinyBLAS, hence the linear fit.
        var ms = sequences == 1 ? DecodeStepFixedMs + 0.4 : DecodeStepFixedMs + DecodePerSequenceMs * sequences;
        return TimeSpan.FromMilliseconds(ms + DecodePerContextTokenMs * contextTokens);
    }

    /// <summary>
    /// One engine step: its decodes (one token each) as one batched decode step over their contexts, plus each prefill
    /// chunk at its position in its sequence.
    /// </summary>
    public TimeSpan Step(IEnumerable<(int Tokens, long StartPosition, bool IsDecode)> chunks)
    {
        var (decode, prefill) = Split(chunks);
        return decode + prefill;
    }

    /// <summary>A step's two parts: its decodes as one batched decode step, and its prefill chunks.</summary>
    public (TimeSpan Decode, TimeSpan Prefill) Split(IEnumerable<(int Tokens, long StartPosition, bool IsDecode)> chunks)
    {
        var (decodes, context, prefill) = (0, 0L, TimeSpan.Zero);
        foreach (var (tokens, start, isDecode) in chunks)
        {
            if (isDecode)
            {
                (decodes, context) = (decodes + 1, context + start);
            }
            else
            {
                prefill += Prefill(tokens, start);
            }
        }

        return (DecodeStep(decodes, context), prefill);
    }

    public TimeSpan Park(int tokens) => TimeSpan.FromSeconds(tokens * KvBytesPerToken / ParkBytesPerSecond);

    public TimeSpan Restore(int tokens) => TimeSpan.FromSeconds(tokens * KvBytesPerToken / RestoreBytesPerSecond);

    public TimeSpan DiskTransfer(int tokens) => TimeSpan.FromSeconds(tokens * KvBytesPerToken / DiskBytesPerSecond);
}
