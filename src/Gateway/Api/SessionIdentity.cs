using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Serving.Gateway.Api;

/// <summary>The session a request belongs to, scoped by tenant.</summary>
/// <param name="Key">Tenant-scoped key sent to the worker; null when the request names no session.</param>
/// <param name="Scope">The tenant's scope tag: KV prefixes may be shared within it, never across it.</param>
public sealed record SessionInfo(string? Key, bool IsFinal, double? ExpectedToolMs, string Scope);

/// <summary>
/// Finds the session id (headers first, then body <c>metadata.session_id</c>, then <c>user</c>) and scopes it by
/// the caller's API key, so one tenant can never resume, read or evict another tenant's session.
/// </summary>
public static class SessionIdentity
{
    public static readonly string[] SessionHeaders = ["X-Session-Id", "X-Dynamo-Session-Id", "x-litellm-session-id"];
    private const int MaxIdLength = 256;

    public static (SessionInfo? Session, ApiError? Error) Resolve(HttpRequest request, JsonElement body, string tenant)
    {
        string? id = null;
        string? source = null;
        foreach (var header in SessionHeaders)
        {
            if (request.Headers.TryGetValue(header, out var values) && !string.IsNullOrEmpty(values.ToString()))
            {
                (id, source) = (values.ToString(), header);
                break;
            }
        }

        if (id is null && body.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("session_id", out var sid) && sid.ValueKind == JsonValueKind.String)
        {
            (id, source) = (sid.GetString(), "metadata.session_id");
        }

        if (id is null && body.TryGetProperty("user", out var user) && user.ValueKind == JsonValueKind.String && user.GetString()!.Length > 0)
        {
            (id, source) = (user.GetString(), "user");
        }

        if (id is not null && (id.Length > MaxIdLength || id.Any(char.IsControl)))
        {
            return (null, ApiError.Invalid($"The session id from {source} must be at most {MaxIdLength} printable characters.", source));
        }

        var final = request.Headers.TryGetValue("X-Session-Final", out var f) && string.Equals(f.ToString(), "true", StringComparison.OrdinalIgnoreCase);
        double? expected = null;
        if (request.Headers.TryGetValue("X-Tool-Expected-Ms", out var hint) && hint.Count > 0)
        {
            if (!double.TryParse(hint.ToString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ms)
                || ms < 0 || ms > 86_400_000 || double.IsNaN(ms))
            {
                return (null, ApiError.Invalid("X-Tool-Expected-Ms must be a number of milliseconds between 0 and 86400000.", "X-Tool-Expected-Ms"));
            }

            expected = ms;
        }

        string? salt = null;
        if (body.TryGetProperty("cache_salt", out var saltValue) && saltValue.ValueKind != JsonValueKind.Null)
        {
            if (saltValue.ValueKind != JsonValueKind.String || saltValue.GetString() is not { Length: > 0 and <= MaxIdLength } text)
            {
                return (null, ApiError.Invalid($"'cache_salt' must be a non-empty string of at most {MaxIdLength} characters.", "cache_salt"));
            }

            salt = text;
        }

        var scope = TenantScope(tenant, salt);
        return (new SessionInfo(id is null ? null : scope + ":" + id, final, expected, scope), null);
    }

    /// <summary>
    /// A short, stable, non-reversible tag of the tenant (never the key itself) and of the request's
    /// <c>cache_salt</c> (vLLM's field): KV is shared only between requests of one tenant with the same salt, so users
    /// behind one key who each send their own salt share nothing. The salt is part of the session key too: a session
    /// that changes its salt starts afresh.
    /// </summary>
    public static string TenantScope(string tenant, string? cacheSalt = null) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(cacheSalt is null ? tenant : $"{tenant}\0salt\0{cacheSalt}")))[..16];
}
