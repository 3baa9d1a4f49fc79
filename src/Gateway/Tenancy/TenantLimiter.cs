using System.Threading.RateLimiting;
using Serving.Gateway.Configuration;

namespace Serving.Gateway.Tenancy;

/// <summary>
/// Per-tenant bounds on inference requests (<c>Gateway:Tenants</c>), so one API key cannot take the whole server:
/// requests in flight (each is a turn running or waiting in a worker's queue — the turns a tenant holds that no
/// eviction can free; kept sessions in a tool pause give their slot up when others need it) and requests per minute
/// (a sliding window). Refusals are 429 <c>rate_limit_exceeded</c> with <c>Retry-After</c>, as OpenAI answers.
/// Partitions are per tenant, and tenants are the configured keys (or "anonymous"), so the limiter's memory is bounded.
/// </summary>
public sealed class TenantLimiter : IDisposable
{
    private readonly TenantLimitOptions _options;
    private readonly int _fallbackRetryAfter;
    private readonly PartitionedRateLimiter<string>? _concurrency;
    private readonly PartitionedRateLimiter<string>? _rate;

    public TenantLimiter(GatewayOptions options)
    {
        _options = options.Tenants;
        _fallbackRetryAfter = options.RetryAfterSeconds;
        if (_options.MaxConcurrentRequests > 0)
        {
            _concurrency = PartitionedRateLimiter.Create<string, string>(tenant => RateLimitPartition.GetConcurrencyLimiter(tenant,
                _ => new ConcurrencyLimiterOptions { PermitLimit = _options.MaxConcurrentRequests, QueueLimit = 0 }));
        }

        if (_options.RequestsPerMinute > 0)
        {
            _rate = PartitionedRateLimiter.Create<string, string>(tenant => RateLimitPartition.GetSlidingWindowLimiter(tenant,
                _ => new SlidingWindowRateLimiterOptions
                {
                    PermitLimit = _options.RequestsPerMinute, Window = TimeSpan.FromMinutes(1), SegmentsPerWindow = 12, QueueLimit = 0, AutoReplenishment = true,
                }));
        }
    }

    /// <summary>
    /// Admits one request of <paramref name="tenant"/>: a lease to dispose when the request ends (it holds the
    /// in-flight place), or the refusal to send. The in-flight place is taken first, so a refused request never
    /// uses up the tenant's rate.
    /// </summary>
    public (IDisposable? Lease, ApiError? Refusal, int RetryAfterSeconds) TryAcquire(string tenant)
    {
        var held = _concurrency?.AttemptAcquire(tenant);
        if (held is { IsAcquired: false })
        {
            held.Dispose();
            return (null, new ApiError(429, "rate_limit_exceeded",
                $"Too many requests in flight for this API key (limit {_options.MaxConcurrentRequests}). Retry when one of them finishes."), _fallbackRetryAfter);
        }

        using var rate = _rate?.AttemptAcquire(tenant);
        if (rate is { IsAcquired: false })
        {
            held?.Dispose();
            var wait = rate.TryGetMetadata(MetadataName.RetryAfter, out var after) ? (int)Math.Ceiling(after.TotalSeconds) : _fallbackRetryAfter;
            return (null, new ApiError(429, "rate_limit_exceeded",
                $"Rate limit reached for requests: {_options.RequestsPerMinute} per minute for this API key. Please try again in {wait}s."), Math.Max(1, wait));
        }

        return (held, null, 0);
    }

    public void Dispose()
    {
        _concurrency?.Dispose();
        _rate?.Dispose();
    }
}

/// <summary><c>Gateway:Tenants</c>: bounds per tenant (API key); 0 = no bound.</summary>
public sealed class TenantLimitOptions
{
    /// <summary>Inference requests one tenant may have in flight (running or queued in a worker).</summary>
    public int MaxConcurrentRequests { get; set; }

    /// <summary>Inference requests one tenant may start per minute (sliding window).</summary>
    public int RequestsPerMinute { get; set; }

    public IEnumerable<string> Validate()
    {
        if (MaxConcurrentRequests is < 0 or > 1_000_000) yield return "Gateway:Tenants:MaxConcurrentRequests must be 0..1000000 (0 = no limit)";
        if (RequestsPerMinute is < 0 or > 100_000_000) yield return "Gateway:Tenants:RequestsPerMinute must be 0..100000000 (0 = no limit)";
    }
}
