using Prometheus;
using Serving.Gateway.Supervision;

namespace Serving.Gateway.Metrics;

/// <summary>/metrics: the gateway's registry followed by every ready worker's metrics, merged and labelled by worker.</summary>
public static class MetricsEndpoint
{
    public static async Task WriteAsync(HttpContext http, GatewayMetrics metrics, WorkerPool pool, IHttpClientFactory clients, Routing.AffinityTable affinity)
    {
        metrics.RoutedSessions.Set(affinity.Count);
        metrics.WorkersReady.Set(pool.Ready.Count);
        metrics.WorkerRestarts.IncTo(pool.All.Sum(w => w.Restarts));
        using var own = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(own, http.RequestAborted);
        var client = clients.CreateClient("metrics");
        client.Timeout = TimeSpan.FromSeconds(2);
        var pages = await Task.WhenAll(pool.Ready.Select(async w =>
        {
            try
            {
                using var request = w.Request(HttpMethod.Get, "/metrics");
                using var response = await client.SendAsync(request, http.RequestAborted);
                return (w.Id, await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync(http.RequestAborted));
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return (w.Id, "");
            }
        }));
        http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await http.Response.WriteAsync(System.Text.Encoding.UTF8.GetString(own.ToArray()));
        await http.Response.WriteAsync(MetricsMerger.Merge(pages));
    }
}
