using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;
using Serving.Gateway.Tenancy;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Api;

/// <summary>
/// Bearer API keys on every /v1 route (vLLM leaves some routes open; we do not), and <c>Gateway:MetricsKey</c> on
/// /metrics when set. The key also names the tenant that
/// scopes sessions. Without configured keys the server is open and every caller is the "anonymous" tenant.
/// Keys are held and compared only as digests (<see cref="SecretDigest"/>); the tenant id is a prefix of the
/// digest, so raw keys never reach session maps, worker calls, logs or metrics. The keys come from
/// <see cref="ApiKeyStore"/> (configuration and a reloaded keys file).
/// </summary>
public sealed class ApiKeyAuth(IOptions<GatewayOptions> options, ApiKeyStore store)
{
    private const string TenantItem = "serving.tenant";
    private readonly byte[][] _metricsDigest = options.Value.MetricsKey is { Length: > 0 } key ? [SecretDigest.Of(key)] : [];

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var keys = http.Request.Path.StartsWithSegments("/v1") ? store.Digests : http.Request.Path.StartsWithSegments("/metrics") ? _metricsDigest : [];
        if (keys.Length > 0)
        {
            var header = http.Request.Headers.Authorization.ToString();
            var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "";
            var digest = SecretDigest.Of(presented);
            if (!SecretDigest.MatchesAny(digest, keys) || presented.Length == 0)
            {
                var message = header.Length == 0 ? "Missing API key: send Authorization: Bearer <key>." : "Incorrect API key provided.";
                await new ApiError(401, "invalid_api_key", message).WriteAsync(http);
                return;
            }

            http.Items[TenantItem] = TenantId(digest);
        }

        await next(http);
    }

    /// <summary>The tenant named by a key's digest: 96 bits of it, enough to never collide, useless for finding the key.</summary>
    public static string TenantId(byte[] keyDigest) => "key-" + Convert.ToHexStringLower(keyDigest, 0, 12);

    public static string TenantOf(HttpContext http) => http.Items[TenantItem] as string ?? "anonymous";
}
