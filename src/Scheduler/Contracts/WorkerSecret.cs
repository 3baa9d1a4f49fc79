using System.Security.Cryptography;

namespace Serving.Scheduler.Contracts;

/// <summary>
/// The secret a worker shares with the gateway that started it: random per worker process, handed over in the
/// environment (never argv, which every local user can read in /proc), sent by the gateway as
/// <c>Authorization: Bearer …</c> on every call. Without it a worker answers 401 to everyone, so no other process
/// can continue, probe or end sessions by talking to a worker's port directly.
/// </summary>
public static class WorkerSecret
{
    public const string EnvironmentVariable = "SERVING_WORKER_SECRET";

    /// <summary>A new random secret (256 bits, hex).</summary>
    public static string Create() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// True when the header is <c>Bearer</c> followed by the secret whose digest is <paramref name="expectedDigest"/>
    /// (compared as digests, in constant time: <see cref="SecretDigest"/>).
    /// </summary>
    public static bool Matches(string? authorization, byte[] expectedDigest)
    {
        const string scheme = "Bearer ";
        var presented = authorization is not null && authorization.StartsWith(scheme, StringComparison.Ordinal) ? authorization[scheme.Length..] : "";
        return SecretDigest.MatchesAny(presented, [expectedDigest]);
    }
}
