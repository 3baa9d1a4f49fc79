using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;

namespace Serving.Gateway.Api;

/// <summary>
/// Bearer API keys on every /v1 route (vLLM leaves some routes open; we do not). The key also names the tenant that
/// scopes sessions. Without configured keys the server is open and every caller is the "anonymous" tenant.
/// </summary>
public sealed class ApiKeyAuth(IOptions<GatewayOptions> options)
{
    private const string TenantItem = "serving.tenant";
    private readonly byte[][] _keys = options.Value.ApiKeys.Select(Encoding.UTF8.GetBytes).ToArray();

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (!http.Request.Path.StartsWithSegments("/v1"))
        {
            await next(http);
            return;
        }

        if (_keys.Length > 0)
        {
            var header = http.Request.Headers.Authorization.ToString();
            var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? Encoding.UTF8.GetBytes(header[7..].Trim()) : [];
            // Fixed-time comparison: response timing must not reveal how much of a key matched.
            var match = _keys.Any(k => CryptographicOperations.FixedTimeEquals(k, presented));
            if (!match)
            {
                var message = header.Length == 0 ? "Missing API key: send Authorization: Bearer <key>." : "Incorrect API key provided.";
                await new ApiError(401, "invalid_api_key", message).WriteAsync(http);
                return;
            }

            http.Items[TenantItem] = Encoding.UTF8.GetString(presented);
        }

        await next(http);
    }

    public static string TenantOf(HttpContext http) => http.Items[TenantItem] as string ?? "anonymous";
}
