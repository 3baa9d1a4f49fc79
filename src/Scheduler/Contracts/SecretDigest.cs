using System.Security.Cryptography;
using System.Text;

namespace Serving.Scheduler.Contracts;

/// <summary>
/// Secrets (API keys, worker secrets) held and compared only as SHA-256 digests: every digest has the same length, and
/// each comparison runs in constant time over all candidates, so neither a guess's length nor how much of it matched
/// nor which candidate it matched shows in the time taken.
/// </summary>
public static class SecretDigest
{
    public static byte[] Of(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>True when <paramref name="presented"/> is non-empty and its digest is one of <paramref name="digests"/>.</summary>
    public static bool MatchesAny(string presented, IReadOnlyList<byte[]> digests) => MatchesAny(Of(presented), digests) & presented.Length > 0;

    /// <summary>True when <paramref name="presentedDigest"/> is one of <paramref name="digests"/>; every candidate is compared.</summary>
    public static bool MatchesAny(byte[] presentedDigest, IReadOnlyList<byte[]> digests)
    {
        var match = false;
        foreach (var digest in digests)
        {
            match |= CryptographicOperations.FixedTimeEquals(digest, presentedDigest);
        }

        return match;
    }
}
