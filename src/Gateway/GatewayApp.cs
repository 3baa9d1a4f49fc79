using System.Text;
using Microsoft.Extensions.Options;
using Prometheus;
using Serving.Gateway.Api;
using Serving.Gateway.Configuration;
using Serving.Gateway.Metrics;
using Serving.Gateway.Routing;
using Serving.Gateway.Supervision;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Serving.Gateway;

/// <summary>Builds the gateway web app: configuration, services, the proxy pipeline and the plain endpoints.</summary>
public static class GatewayApp
{
    /// <summary>Short command-line names used by run.sh and the load tests.</summary>
    private static readonly Dictionary<string, string> Shortcuts = new()
    {
        ["--model"] = "Gateway:Workers:ModelPath",
        ["--worker-path"] = "Gateway:Workers:WorkerPath",
        ["--workers"] = "Gateway:Workers:Count",
        ["--slots"] = "Gateway:Workers:Slots",
        ["--ctx-per-slot"] = "Gateway:Workers:ContextPerSlot",
        ["--threads"] = "Gateway:Workers:Threads",
        ["--scheduler"] = "Gateway:Workers:Scheduler",
        ["--pause-policy"] = "Gateway:Workers:PausePolicy",
        ["--api-key"] = "Gateway:ApiKeys:0",
        ["--chat-template"] = "Gateway:Workers:ChatTemplate",
        ["--tool-parser"] = "Gateway:Workers:ToolParser",
    };

    /// <summary>Builds the app, or returns every configuration error (nothing is started then).</summary>
    public static (WebApplication? App, List<string> Errors) Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, Shortcuts);
        var options = builder.Configuration.GetSection("Gateway").Get<GatewayOptions>() ?? new GatewayOptions();
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            return (null, errors);
        }

        var services = builder.Services;
        services.Configure<GatewayOptions>(builder.Configuration.GetSection("Gateway"));
        services.Configure<HostOptions>(h => h.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(15));
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1);
        // Request code runs on the socket thread instead of hopping to the thread pool: one wake-up less per streamed
        // chunk, on cores llama.cpp needs. Safe because nothing on the request path blocks.
        builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<WorkerPool>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<AffinityTable>();
        services.AddSingleton<SessionRouter>();
        services.AddSingleton<RequestValidator>();
        services.AddSingleton<InferencePipeline>();
        services.AddSingleton<ApiKeyAuth>();
        services.AddSingleton<Tenancy.ApiKeyStore>();
        services.AddSingleton<Tenancy.TenantLimiter>();
        services.AddSingleton<DrainState>();
        services.AddSingleton<WorkerSupervisor>();
        services.AddHostedService(sp => sp.GetRequiredService<WorkerSupervisor>());
        services.AddHostedService<WorkerStatsPoller>();
        services.AddHostedService<SessionExpiry>();
        // Every connection to a worker (stats, metrics, session expiry, proxying) checks HTTPS workers the same way.
        var workerCertificates = WorkerTls.Validation(options.Workers.RemoteCaFile);
        services.AddHttpClient();
        services.ConfigureHttpClientDefaults(client => client.ConfigurePrimaryHttpMessageHandler(() =>
            new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = workerCertificates } }));
        services.AddSingleton<ProxyConfiguration>();
        services.AddReverseProxy()
            .LoadFromMemory([], [])
            .ConfigureHttpClient((_, handler) => handler.SslOptions.RemoteCertificateValidationCallback = workerCertificates)
            .AddTransforms(context => context.AddRequestTransform(transform =>
            {
                // The worker gets the validated call (the pipeline swapped the body) and its own secret, never the
                // client's credentials.
                transform.Path = "/internal/generate";
                transform.Query = new QueryTransformContext(new DefaultHttpContext().Request);
                transform.ProxyRequest.Headers.Authorization = InferencePipeline.ChosenWorker(transform.HttpContext).Authorization;
                return ValueTask.CompletedTask;
            }));

        var app = builder.Build();
        _ = app.Services.GetRequiredService<ProxyConfiguration>();
        MapEndpoints(app, options);
        return (app, []);
    }

    private static void MapEndpoints(WebApplication app, GatewayOptions options)
    {
        var auth = app.Services.GetRequiredService<ApiKeyAuth>();
        app.Use((http, next) => auth.InvokeAsync(http, next));
        var pool = app.Services.GetRequiredService<WorkerPool>();
        var drain = app.Services.GetRequiredService<DrainState>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() =>
        {
            // SIGTERM: stop taking work (ready turns 503), let in-flight requests finish, then the host stops the workers.
            drain.StartDraining();
            drain.WaitForIdleAsync(options.DrainTimeout, TimeProvider.System).GetAwaiter().GetResult();
        });

        var modelName = options.ModelName ?? Path.GetFileNameWithoutExtension(options.Workers.ModelPath ?? "remote");
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = modelName, @object = "model", created = 0, owned_by = "serving" } },
        }));
        app.MapGet("/health/live", () => Results.Json(new { status = "alive" }));
        app.MapGet("/health/ready", () =>
        {
            var ready = pool.Ready.Count;
            return ready > 0 && !drain.Draining
                ? Results.Json(new { status = "ready", workers_ready = ready })
                : Results.Json(new { status = drain.Draining ? "draining" : "starting", workers_ready = ready }, statusCode: 503);
        });
        app.MapGet("/metrics", MetricsEndpoint.WriteAsync);
        var pipeline = app.Services.GetRequiredService<InferencePipeline>();
        app.MapReverseProxy(proxy =>
        {
            // The pipeline routes (one destination per request); YARP's load balancing then just takes it.
            proxy.Use((http, next) => pipeline.InvokeAsync(http, () => next()));
            proxy.UseLoadBalancing();
        });
        app.MapFallback((HttpContext http) => new ApiError(404, "not_found", $"Unknown route: {http.Request.Method} {http.Request.Path}").WriteAsync(http));
    }
}
