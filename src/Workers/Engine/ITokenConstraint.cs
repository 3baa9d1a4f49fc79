namespace Serving.Workers.Engine;

/// <summary>
/// A per-turn constraint on which tokens may come next (a grammar). Engine thread only; one per turn, disposed with
/// the turn. It belongs to the turn, not the session: nothing of it survives a pause, park or restore.
/// </summary>
public interface ITokenConstraint : IDisposable
{
    /// <summary>Whether <paramref name="token"/> may come next: the cheap check tried before masking every logit.</summary>
    bool Allows(int token, float logit);

    /// <summary>Sets the logit of every token the constraint forbids next to negative infinity.</summary>
    void Apply(Span<float> logits);

    /// <summary>Advances past <paramref name="token"/>, which <see cref="Apply"/> allowed and which does not end generation.</summary>
    void Accept(int token);
}
