using System.Net.Http.Json;
using Serving.Scheduler.Contracts;
using Serving.Workers.Engine;
using Serving.Workers.Hosting;

namespace Serving.Workers.Tests.Support;

/// <summary>A worker on real Kestrel around a simulated engine, with a client that presents the worker's secret.</summary>
internal sealed class SimulatedWorker : IAsyncDisposable
{
    private readonly WorkerApp _app;

    private SimulatedWorker(WorkerApp app, HttpClient http)
    {
        _app = app;
        Http = http;
    }

    public HttpClient Http { get; }

    public string Url => _app.Url;

    public static async Task<SimulatedWorker> StartAsync(SimulatedEngine engine)
    {
        var secret = WorkerSecret.Create();
        var app = await WorkerApp.StartAsync(new WorkerSettings { ModelPath = "simulated", Port = 0, HostPoolBytes = 16 << 20, Secret = secret }, engine);
        var http = new HttpClient { BaseAddress = new Uri(app.Url) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", secret);
        return new SimulatedWorker(app, http);
    }

    public Task<HttpResponseMessage> PostAsync(GenerateCall call) =>
        Http.PostAsync("/internal/generate", JsonContent.Create(call, options: GenerateCall.JsonOptions));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.DisposeAsync();
    }
}
