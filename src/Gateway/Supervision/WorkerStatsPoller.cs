using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;

namespace Serving.Gateway.Supervision;

/// <summary>
/// Reads every worker's /stats twice a second: the load that routing decides on, and its health — a worker whose
/// engine failed stays up but answers 503 there (as on /health): two such answers in a row have the supervisor replace
/// the process. Three failed reads in a row take a worker out of rotation until it answers again (remote workers have
/// no process to watch). One cheap request per interval: on a 2-core machine every poll competes with llama.cpp.
/// </summary>
public sealed class WorkerStatsPoller(IOptions<GatewayOptions> options, WorkerPool pool, IHttpClientFactory http) : BackgroundService
{
    private readonly Dictionary<string, int> _failures = [];
    private readonly Dictionary<string, int> _unhealthy = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Workers.StatsInterval);
        var client = http.CreateClient("stats");
        client.Timeout = TimeSpan.FromSeconds(2);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // The supervisor clears Url when a process exits, so only live workers are polled.
                foreach (var worker in pool.All.Where(w => w.Url is not null))
                {
                    await PollAsync(client, worker, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task PollAsync(HttpClient client, WorkerEntry worker, CancellationToken stop)
    {
        var generation = worker.Generation;
        try
        {
            using var request = worker.Request(HttpMethod.Get, "/stats");
            using var response = await client.SendAsync(request, stop);
            if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && generation == worker.Generation)
            {
                _unhealthy[worker.Id] = _unhealthy.GetValueOrDefault(worker.Id) + 1;
                if (_unhealthy[worker.Id] >= 2)
                {
                    _unhealthy[worker.Id] = 0;
                    pool.ReportUnhealthy(worker, generation);
                }

                return;
            }

            _unhealthy[worker.Id] = 0;
            response.EnsureSuccessStatusCode();
            var load = await response.Content.ReadFromJsonAsync<WorkerLoad>(stop);
            if (generation == worker.Generation)
            {
                worker.Load = load;
                _failures[worker.Id] = 0;
                pool.SetReady(worker, true);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            if (stop.IsCancellationRequested)
            {
                return;
            }

            _failures[worker.Id] = _failures.GetValueOrDefault(worker.Id) + 1;
            if (_failures[worker.Id] >= 3)
            {
                pool.SetReady(worker, false);
            }
        }
    }
}
