namespace Serving.Workers.Runtime;

/// <summary>
/// Picks the next token from logits: argmax at temperature 0 (reproducible, what tests and agents mostly use),
/// otherwise temperature-scaled softmax with nucleus (top-p) cut, drawn from a per-request seeded generator.
/// </summary>
internal sealed class TokenSampler(SamplingOptions options)
{
    private readonly Random _random = options.Seed is { } seed ? new Random(unchecked((int)seed ^ (int)(seed >> 32))) : new Random();
    private (int Token, float Probability)[] _candidates = [];

    /// <exception cref="InvalidLogitsException">No logit is a finite number (a broken model or engine).</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (options.Temperature <= 0f)
        {
            return ArgMax(logits);
        }

        if (_candidates.Length != logits.Length)
        {
            _candidates = new (int, float)[logits.Length];
        }

        var max = logits[ArgMax(logits)];
        var sum = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            // NaN (and -inf) logits get no probability.
            var p = float.IsNaN(logits[i]) ? 0f : MathF.Exp((logits[i] - max) / options.Temperature);
            _candidates[i] = (i, p);
            sum += p;
        }

        if (!(sum > 0) || double.IsInfinity(sum))
        {
            throw new InvalidLogitsException();
        }

        Array.Sort(_candidates, (a, b) => b.Probability.CompareTo(a.Probability));
        // Keep the smallest set of most likely tokens whose mass reaches top_p.
        var cut = 0;
        var mass = 0.0;
        var target = Math.Clamp(options.TopP, 1e-6f, 1f) * sum;
        while (cut < _candidates.Length && mass < target)
        {
            mass += _candidates[cut++].Probability;
        }

        var draw = _random.NextDouble() * mass;
        for (var i = 0; i < cut; i++)
        {
            draw -= _candidates[i].Probability;
            if (draw <= 0)
            {
                return _candidates[i].Token;
            }
        }

        return _candidates[cut - 1].Token;
    }

    /// <summary>The largest finite logit (NaN never wins).</summary>
    /// <exception cref="InvalidLogitsException">No logit is a finite number.</exception>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = -1;
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
