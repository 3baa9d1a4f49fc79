namespace Serving.Workers.Runtime;

/// <summary>
/// Picks the next token from logits: argmax at temperature 0 (reproducible, what tests and agents mostly use),
/// otherwise temperature-scaled softmax with nucleus (top-p) cut, drawn from a per-request seeded generator.
/// </summary>
internal sealed class TokenSampler(SamplingOptions options)
{
    private readonly Random _random = options.Seed is { } seed ? new Random(unchecked((int)seed ^ (int)(seed >> 32))) : new Random();
    private (int Token, float Probability)[] _candidates = [];

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
            var p = MathF.Exp((logits[i] - max) / options.Temperature);
            _candidates[i] = (i, p);
            sum += p;
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

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }
}
