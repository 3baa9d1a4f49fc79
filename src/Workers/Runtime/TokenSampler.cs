using System.Numerics.Tensors;

namespace Serving.Workers.Runtime;

/// <summary>
/// Picks the next token from logits: argmax at temperature 0 (reproducible, what tests and agents mostly use),
/// otherwise a draw from the temperature-scaled softmax, cut by top-k, min-p and top-p (llama.cpp's and vLLM's
/// extensions next to OpenAI's top_p), from a per-request seeded generator.
/// <para>
/// Never a full sort of the vocabulary: with no cut the draw is one pass over the probabilities; with a cut, only
/// the candidates above a threshold are sorted, and the threshold is lowered until they hold the mass that top-p asks
/// for. That is exact: every token left out is less likely than every token kept.
/// </para>
/// </summary>
internal sealed class TokenSampler(SamplingOptions options)
{
    private readonly Random _random = options.Seed is { } seed ? new Random(unchecked((int)seed ^ (int)(seed >> 32))) : new Random();
    private float[] _probabilities = [];
    private readonly List<int> _candidates = [];

    /// <exception cref="InvalidLogitsException">No logit is a finite number (a broken model or engine).</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        var best = ArgMax(logits);
        if (options.Temperature <= 0f || options.TopK == 1)
        {
            return best;
        }

        if (_probabilities.Length != logits.Length)
        {
            _probabilities = new float[logits.Length];
        }

        // Unnormalized probabilities relative to the best token (which gets 1): NaN and -inf logits get 0.
        var max = logits[best];
        var p = _probabilities.AsSpan();
        TensorPrimitives.Subtract(logits, max, p);
        TensorPrimitives.Multiply(p, 1f / options.Temperature, p);
        TensorPrimitives.Exp(p, p);
        for (var i = 0; i < p.Length; i++)
        {
            if (float.IsNaN(p[i]))
            {
                p[i] = 0f;
            }
        }

        var total = (double)TensorPrimitives.Sum(p);
        if (!(total > 0) || double.IsInfinity(total))
        {
            throw new InvalidLogitsException();
        }

        // min-p: tokens less likely than min_p × the best one are out (the best has probability 1 here).
        var floor = options.MinP > 0f ? options.MinP : 0f;
        var topP = Math.Clamp(options.TopP, 1e-6f, 1f);
        return options.TopK <= 0 && topP >= 1f
            ? DrawFromAll(p, floor)
            : DrawFromNucleus(_probabilities, floor, total, topP, options.TopK);
    }

    private int DrawFromAll(ReadOnlySpan<float> p, float floor)
    {
        var mass = 0.0;
        foreach (var x in p)
        {
            mass += x >= floor ? x : 0f;
        }

        var draw = _random.NextDouble() * mass;
        var last = 0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] < floor || p[i] == 0f)
            {
                continue;
            }

            last = i;
            draw -= p[i];
            if (draw <= 0)
            {
                return i;
            }
        }

        return last;
    }

    /// <summary>The most likely tokens, best first, until top-k of them or top-p of the mass; then a draw among them.</summary>
    private int DrawFromNucleus(float[] p, float floor, double total, float topP, int topK)
    {
        var target = topP * total;
        var limit = topK > 0 ? topK : int.MaxValue;
        for (var threshold = Math.Max(floor, 1e-3f); ; threshold = Math.Max(floor, threshold / 1000f))
        {
            _candidates.Clear();
            var mass = 0.0;
            for (var i = 0; i < p.Length; i++)
            {
                if (p[i] >= threshold && p[i] > 0f)
                {
                    _candidates.Add(i);
                    mass += p[i];
                }
            }

            // Enough when the kept tokens already hold the nucleus or top-k of them exist; or nothing is left below.
            if (mass >= target || _candidates.Count >= limit || threshold <= floor || threshold < 1e-30f)
            {
                break;
            }
        }

        _candidates.Sort((a, b) => p[b].CompareTo(p[a]));
        var cut = 0;
        var kept = 0.0;
        while (cut < _candidates.Count && cut < limit && kept < target)
        {
            kept += p[_candidates[cut++]];
        }

        var draw = _random.NextDouble() * kept;
        for (var i = 0; i < cut; i++)
        {
            draw -= p[_candidates[i]];
            if (draw <= 0)
            {
                return _candidates[i];
            }
        }

        return _candidates[cut - 1];
    }

    /// <summary>The largest finite logit (NaN never wins).</summary>
    /// <exception cref="InvalidLogitsException">No logit is a finite number.</exception>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = TensorPrimitives.IndexOfMax(logits);
        if (best >= 0 && float.IsFinite(logits[best]))
        {
            return best;
        }

        // NaN or +inf somewhere: the slow, careful scan.
        best = -1;
        for (var i = 0; i < logits.Length; i++)
        {
            if (float.IsFinite(logits[i]) && (best < 0 || logits[i] > logits[best]))
            {
                best = i;
            }
        }

        return best >= 0 ? best : throw new InvalidLogitsException();
    }
}

/// <summary>The engine produced logits with no finite value: the turn cannot go on (the worker fails it alone).</summary>
internal sealed class InvalidLogitsException() : Exception("The model produced invalid logits (no finite value); this response cannot be generated.");
