using System.Diagnostics;
using Serving.Workers.Engine;

namespace Serving.Workers.Benchmarks;

/// <summary>One measured figure: tokens per second (higher is better) or milliseconds (lower is better).</summary>
public sealed record BenchFigure(string Name, double Value, string Unit)
{
    public bool HigherIsBetter => Unit == "tok/s";
}

/// <summary>
/// Our engine measured the way llama-bench and llama-batched-bench measure theirs: a warm-up, then the median of
/// several repetitions; prefill in ubatch-sized calls with logits for the last token only; batched decode of one
/// token per sequence after a 128-token prompt in each.
/// </summary>
public sealed class EngineBenchmark(IInferenceEngine engine, int repetitions = 3)
{
    public const int DecodePrompt = 128;
    public const int DecodeSteps = 32;
    public static readonly int[] PrefillSizes = [128, 512, 2048];
    public static readonly int[] DecodeBatches = [1, 4, 8, 16];
    public const int AppendDepth = 1500;
    public const int AppendTokens = 512;
    public const int MixedDecodes = 8;
    public const int MixedChunk = 256;

    public List<BenchFigure> Run()
    {
        var figures = new List<BenchFigure>();
        Prefill(0, Tokens(64, 1)); // warm-up: graph allocation and first-touch of the weights
        foreach (var n in PrefillSizes)
        {
            figures.Add(new($"prefill {n} (empty sequence)", Median(() => n / Prefill(0, Tokens(n, 7))), "tok/s"));
        }

        figures.Add(new($"prefill {AppendTokens} after {AppendDepth}", Median(() =>
        {
            Prefill(0, Tokens(AppendDepth, 3));
            return AppendTokens / Prefill(0, Tokens(AppendTokens, 9), keep: true);
        }), "tok/s"));

        foreach (var batch in DecodeBatches)
        {
            figures.Add(new($"decode batch {batch}", Median(() => batch * DecodeSteps / DecodeSeconds(batch)), "tok/s"));
        }

        figures.Add(new($"mixed step: {MixedDecodes} decodes + {MixedChunk}-token chunk", Median(MixedStepMs), "ms"));
        return figures;
    }

    /// <summary>Empties the slot (unless <paramref name="keep"/>), prefills the tokens in ubatch-sized calls; seconds.</summary>
    private double Prefill(int slot, int[] tokens, bool keep = false)
    {
        if (!keep)
        {
            engine.Truncate(slot, 0);
        }

        var started = Stopwatch.GetTimestamp();
        Append(engine, slot, tokens);
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    /// <summary>Appends the tokens to the slot in batch-sized calls, logits for the last token only.</summary>
    internal static void Append(IInferenceEngine engine, int slot, int[] tokens)
    {
        var start = engine.SequenceLength(slot);
        for (var offset = 0; offset < tokens.Length; offset += engine.Info.MaxBatchTokens)
        {
            var chunk = tokens[offset..Math.Min(tokens.Length, offset + engine.Info.MaxBatchTokens)];
            Check(engine.Decode([new SequenceChunk(slot, start + offset, chunk, offset + chunk.Length == tokens.Length)]));
        }
    }

    private double DecodeSeconds(int batch)
    {
        for (var s = 0; s < batch; s++)
        {
            Prefill(s, Tokens(DecodePrompt, 11 + s));
        }

        var started = Stopwatch.GetTimestamp();
        for (var step = 0; step < DecodeSteps; step++)
        {
            Check(engine.Decode(Enumerable.Range(0, batch).Select(s => new SequenceChunk(s, engine.SequenceLength(s), [500 + step], true)).ToList()));
        }

        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private double MixedStepMs()
    {
        for (var s = 0; s < MixedDecodes; s++)
        {
            Prefill(s, Tokens(DecodePrompt, 13 + s));
        }

        var prefillSlot = MixedDecodes;
        engine.Truncate(prefillSlot, 0);
        var chunks = Enumerable.Range(0, MixedDecodes).Select(s => new SequenceChunk(s, engine.SequenceLength(s), [600], true)).ToList();
        chunks.Add(new SequenceChunk(prefillSlot, 0, Tokens(MixedChunk, 17), false));
        var started = Stopwatch.GetTimestamp();
        Check(engine.Decode(chunks));
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private double Median(Func<double> measure)
    {
        var samples = Enumerable.Range(0, repetitions).Select(_ => measure()).Order().ToList();
        return samples[samples.Count / 2];
    }

    private int[] Tokens(int count, int seed) => Tokens(engine, count, seed);

    /// <summary>Deterministic ordinary tokens (no control tokens at the low ids) for benchmark prompts.</summary>
    internal static int[] Tokens(IInferenceEngine engine, int count, int seed) =>
        Enumerable.Range(0, count).Select(i => 100 + (i * 31 + seed * 97) % Math.Max(1, engine.Info.VocabSize - 200)).ToArray();

    internal static void Check(DecodeStatus status)
    {
        if (status != DecodeStatus.Ok)
        {
            throw new InvalidOperationException($"decode failed: {status}");
        }
    }
}
