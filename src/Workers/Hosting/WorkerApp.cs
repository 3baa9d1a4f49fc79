using Prometheus;
using Serving.Cache.Parking;
using Serving.Scheduler;
using Serving.Scheduler.Contracts;
using Serving.Workers.Api;
using Serving.Workers.Engine;
using Serving.Workers.Metrics;
using Serving.Workers.Runtime;

namespace Serving.Workers.Hosting;

/// <summary>
/// A worker process's web app: the engine, the step loop and their endpoints. Internal routes only; the gateway is
/// the public surface. Built as a class (not only in Main) so tests can run a worker in-process on a real port.
/// </summary>
public sealed class WorkerApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly StepLoopGenerationService _service;
    private readonly IInferenceEngine _engine;
    private readonly IParkingStore _store;

    private WorkerApp(WebApplication app, StepLoopGenerationService service, IInferenceEngine engine, IParkingStore store)
    {
        _app = app;
        _service = service;
        _engine = engine;
        _store = store;
    }

    public IGenerationService Generation => _service;

    public WorkerMetrics Metrics { get; private init; } = null!;

    /// <summary>The base URL the worker listens on (the real port when 0 was asked for).</summary>
    public string Url => _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
        .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();

    /// <summary>How the served model writes tool calls (the gateway builds tool grammars in it).</summary>
    public string ToolFormat => _engine.Chat.ToolCalls.Name;

    /// <exception cref="EngineLoadException">The model or the native libraries could not be loaded.</exception>
    public static async Task<WorkerApp> StartAsync(WorkerSettings settings, IInferenceEngine? engine = null)
    {
        engine ??= LlamaEngine.Load(new LlamaEngineOptions
        {
            ModelPath = settings.ModelPath,
            SlotCount = settings.Slots,
            ContextPerSlot = settings.ContextPerSlot,
            Threads = settings.Threads,
            BatchTokens = settings.BatchTokens,
            ChatTemplateFile = settings.ChatTemplateFile,
            ToolParser = settings.ToolParser,
        });
        var store = new TieredParkingStore(settings.ParkingOptions());
        var metrics = new WorkerMetrics();
        var scheduler = AgentSchedulerFactory.Create(settings.SchedulerOptions(), new EngineShape(engine.Info.SlotCount, engine.Info.ContextPerSlot, engine.Info.MaxBatchTokens), TimeProvider.System);
        var service = new StepLoopGenerationService(engine, scheduler, store, metrics, TimeProvider.System, settings.QueueCapacity);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var tls = settings.TlsCertificate is { } certificate
            ? System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, settings.TlsKey)
            : null;
        builder.WebHost.UseUrls($"{(tls is null ? "http" : "https")}://{settings.Host}:{settings.Port}");
        if (tls is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 64L << 20;
            if (tls is not null)
            {
                k.ConfigureHttpsDefaults(https => https.ServerCertificate = tls);
            }
        });
        // As in the gateway: no thread-pool hop per streamed chunk (nothing on the request path blocks).
        builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        var app = builder.Build();
        if (settings.Secret is { } secret)
        {
            var digest = SecretDigest.Of(secret);
            app.Use(async (http, next) =>
            {
                if (WorkerSecret.Matches(http.Request.Headers.Authorization, digest))
                {
                    await next(http);
                    return;
                }

                http.Response.StatusCode = 401;
                await http.Response.WriteAsJsonAsync(new OpenAiError(401, "invalid_worker_secret",
                    "This is an internal worker endpoint: only its gateway may call it (Authorization: Bearer <worker secret>).").Body);
            });
        }

        var generate = new GenerateEndpoint(engine, service);
        app.MapPost("/internal/generate", generate.HandleAsync);
        app.MapPost("/internal/sessions/end", async (HttpContext http) =>
        {
            var key = (await new StreamReader(http.Request.Body).ReadToEndAsync()).Trim();
            if (key.Length > 0)
            {
                service.EndSession(key);
            }

            return Results.NoContent();
        });
        // /stats carries health too (503 once the engine failed): the gateway's one poll watches both.
        // With the model's tool-call format, so the gateway builds tool grammars in that format.
        app.MapGet("/stats", () => service.Fault is null
            ? Results.Json(service.GetStats() with { ToolFormat = engine.Chat.ToolCalls.Name })
            : Results.Json(new { status = "failed" }, statusCode: 503));
        app.MapGet("/health", () => service.Fault is null ? Results.Ok(new { status = "ok", model = engine.Info.ModelName }) : Results.Json(new { status = "failed" }, statusCode: 503));
        app.MapGet("/metrics", async (HttpContext http) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(http.Response.Body, http.RequestAborted);
        });

        service.Start();
        await app.StartAsync();
        return new WorkerApp(app, service, engine, store) { Metrics = metrics };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _service.Dispose();
        _store.Dispose();
        _engine.Dispose();
    }
}
