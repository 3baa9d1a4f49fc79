using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenAI;
using OpenAI.Chat;
using Serving.Gateway;
using Serving.Gateway.Supervision;
using Serving.Workers.Models;

namespace Serving.Gateway.Tests.Support;

/// <summary>
/// A real gateway on 127.0.0.1 (random port) supervising real worker processes that run llama.cpp on the tiny
/// generated model. Two API keys, so tests can act as two tenants.
/// </summary>
public class GatewayFixture : IAsyncLifetime
{
    public const string KeyA = "test-key-tenant-a";
    public const string KeyB = "test-key-tenant-b";

    private readonly string _folder = Directory.CreateTempSubdirectory("serving-gw-").FullName;
    private WebApplication? _app;

    public string BaseUrl { get; private set; } = "";

    public string ModelName => "tiny";

    public WorkerSupervisor Supervisor => _app!.Services.GetRequiredService<WorkerSupervisor>();

    public IServiceProvider Services => _app!.Services;

    protected virtual string[] ExtraArgs => [];

    public async Task InitializeAsync()
    {
        var model = ModelGenerator.Generate(ModelKind.Tiny, Path.Combine(_folder, "tiny.gguf")).Path;
        string[] args =
        [
            "--urls", "http://127.0.0.1:0", "--model", model, "--worker-path", WorkerDll(), "--slots", "4", "--ctx-per-slot", "2048",
            "--threads", "1", "--Gateway:ApiKeys:0", KeyA, "--Gateway:ApiKeys:1", KeyB, "--Gateway:MaxBodyBytes", "65536",
            "--Gateway:MaxTokensCap", "256", "--Logging:LogLevel:Default", "Warning", .. ExtraArgs,
        ];
        var (app, errors) = GatewayApp.Build(args);
        Assert.True(app is not null, string.Join("; ", errors));
        _app = app;
        await _app.StartAsync();
        BaseUrl = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        await WaitUntilReadyAsync();
    }

    /// <summary>Kills the (single) worker process; <see cref="WaitForReplacementsAsync"/> waits for its successor.</summary>
    public void KillWorker()
    {
        var worker = Supervisor.Processes.Values.Single();
        _killed.Add(worker.Id);
        worker.Kill();
    }

    /// <summary>
    /// Waits until every worker killed by <see cref="KillWorker"/> is gone from the gateway's processes and the gateway
    /// is ready again. Waiting for readiness alone would race: until the gateway notices an exit, it still reports ready.
    /// </summary>
    public async Task WaitForReplacementsAsync()
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        foreach (var killed in _killed)
        {
            while (Supervisor.Processes.Values.Any(p => p.Id == killed))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("the gateway did not replace the killed worker");
                await Task.Delay(50);
            }
        }

        _killed.Clear();
        await WaitUntilReadyAsync();
    }

    /// <summary>Process ids of killed workers (the supervisor disposes their Process objects).</summary>
    private readonly System.Collections.Concurrent.ConcurrentBag<int> _killed = [];

    /// <summary>Waits for the worker processes (external state) to report ready, up to a minute.</summary>
    public async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (DateTime.UtcNow < deadline)
        {
            if ((await http.GetAsync(BaseUrl + "/health/ready")).IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the gateway's workers did not become ready");
    }

    public ChatClient Chat(string apiKey = KeyA, string? sessionId = null, bool final = false, int? toolExpectedMs = null)
    {
        var options = new OpenAIClientOptions { Endpoint = new Uri(BaseUrl + "/v1"), NetworkTimeout = TimeSpan.FromMinutes(2) };
        if (sessionId is not null)
        {
            options.AddPolicy(new HeaderPolicy("X-Session-Id", sessionId), PipelinePosition.PerCall);
        }

        if (toolExpectedMs is { } hint)
        {
            options.AddPolicy(new HeaderPolicy("X-Tool-Expected-Ms", hint.ToString(System.Globalization.CultureInfo.InvariantCulture)), PipelinePosition.PerCall);
        }

        if (final)
        {
            options.AddPolicy(new HeaderPolicy("X-Session-Final", "true"), PipelinePosition.PerCall);
        }

        return new ChatClient(ModelName, new ApiKeyCredential(apiKey), options);
    }

    public HttpClient Http(string? apiKey = KeyA)
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromMinutes(2) };
        if (apiKey is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        }

        return http;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }

    private static string WorkerDll()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "artifacts", "bin", "Serving.Workers", "debug", "Serving.Workers.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("Serving.Workers.dll not found under artifacts/bin; build the solution first");
    }

    private sealed class HeaderPolicy(string name, string value) : PipelinePolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Set(name, value);
            ProcessNext(message, pipeline, currentIndex);
        }

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Set(name, value);
            return ProcessNextAsync(message, pipeline, currentIndex);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    /// <summary>All tests with real processes run one at a time: the machine has two cores.</summary>
    public const string Name = "gateway";
}
