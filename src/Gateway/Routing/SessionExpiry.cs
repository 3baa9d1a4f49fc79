using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;
using Serving.Gateway.Supervision;

namespace Serving.Gateway.Routing;

/// <summary>
/// Ends sessions idle past the configured time (counted from the end of their last request): forgets their routing
/// and frees their KV on the worker process that holds it. Workers expire their own sessions with the same timeout;
/// this only makes it prompt and keeps the two in step.
/// </summary>
public sealed class SessionExpiry(IOptions<GatewayOptions> options, AffinityTable affinity, WorkerPool pool, IHttpClientFactory clients) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var idle = options.Value.SessionIdleTimeout;
        using var timer = new PeriodicTimer(TimeSpan.FromTicks(Math.Clamp(idle.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromSeconds(30).Ticks)));
        var client = clients.CreateClient("expiry");
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                foreach (var (session, workerId, generation) in affinity.Expire(idle))
                {
                    if (pool.Find(workerId) is { Url: not null } worker && worker.Generation == generation)
                    {
                        try
                        {
                            using var request = worker.Request(HttpMethod.Post, "/internal/sessions/end", new StringContent(session));
                            using var response = await client.SendAsync(request, stoppingToken);
                        }
                        catch (HttpRequestException)
                        {
                            // The worker is gone; its state went with it.
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
