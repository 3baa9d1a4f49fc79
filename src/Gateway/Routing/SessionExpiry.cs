using Microsoft.Extensions.Options;
using Serving.Gateway.Admission;
using Serving.Gateway.Configuration;
using Serving.Gateway.Supervision;

namespace Serving.Gateway.Routing;

/// <summary>Ends sessions idle past the configured time: frees their admission place and their KV on the worker.</summary>
public sealed class SessionExpiry(IOptions<GatewayOptions> options, AffinityTable affinity, SessionAdmission admission, WorkerPool pool, IHttpClientFactory clients) : BackgroundService
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
                foreach (var (session, destination) in affinity.Expire(idle))
                {
                    admission.Release(session);
                    if (pool.Find(destination)?.Url is { } url)
                    {
                        try
                        {
                            await client.PostAsync(url + "/internal/sessions/end", new StringContent(session), stoppingToken);
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
