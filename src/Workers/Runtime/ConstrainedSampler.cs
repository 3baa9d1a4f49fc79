using Serving.Workers.Engine;

namespace Serving.Workers.Runtime;

/// <summary>
/// Sampling under a grammar, grammar last (as llama.cpp's common sampler does): draw from the free distribution and
/// ask the grammar about that one token; only when it is refused, mask every logit and draw again. Without top-p/top-k
/// cuts this is exact: an allowed token is drawn with probability p/A either way (p free, A the allowed mass), since
/// the second draw comes from the allowed tokens alone; at temperature 0 the free argmax, when allowed, is the
/// constrained argmax. Most tokens of a real model follow the grammar, so most steps cost one check, not a mask.
/// </summary>
internal static class ConstrainedSampler
{
    public static int Sample(TokenSampler sampler, ITokenConstraint constraint, Span<float> logits, Func<int, bool> endsGeneration)
    {
        var token = sampler.Sample(logits);
        if (!constraint.Allows(token, logits[token]))
        {
            constraint.Apply(logits);
            token = sampler.Sample(logits);
        }

        if (!endsGeneration(token))
        {
            constraint.Accept(token); // allowed, so the grammar can take it (llama.cpp aborts on a refused token)
        }

        return token;
    }
}
