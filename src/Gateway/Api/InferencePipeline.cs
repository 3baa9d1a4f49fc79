using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;
using Serving.Gateway.Metrics;
using Serving.Gateway.Routing;
using Serving.Gateway.Supervision;
using Serving.Gateway.Tenancy;
using Serving.Scheduler.Contracts;
using Yarp.ReverseProxy.Forwarder;

namespace Serving.Gateway.Api;

/// <summary>
/// Everything an inference request passes before YARP forwards it: draining and worker checks, the tenant's limits,
/// body limit, JSON, session identity, validation, routing to one worker. A request refused here changed nothing. Admission (which
/// sessions may hold KV) is the worker scheduler's: it knows the KV and the slots, and refuses with 503 + Retry-After
/// past its bounded queue. After forwarding, transport failures become OpenAI errors — in the stream, as an SSE error
/// event, when the response had begun.
/// </summary>
public sealed class InferencePipeline(
    IOptions<GatewayOptions> options,
    RequestValidator validator,
    SessionRouter router,
    AffinityTable affinity,
    WorkerPool pool,
    GatewayMetrics metrics,
    DrainState drain,
    TenantLimiter limiter)
{
    /// <summary>HttpContext.Items key of the validated <see cref="GenerateCall"/> (its JSON replaced the request body).</summary>
    public const string CallItem = "serving.call";

    public async Task InvokeAsync(HttpContext http, Func<Task> next)
    {
        // A bounded label: the route the proxy matched, never the raw path.
        var route = http.GetReverseProxyFeature().Route.Config.Match.Path ?? "other";
        using var inFlight = drain.Enter();
        var (tenantPlace, refusal, retryAfter) = limiter.TryAcquire(ApiKeyAuth.TenantOf(http));
        using var held = tenantPlace;
        try
        {
            if (refusal is not null)
            {
                await refusal.WriteAsync(http, retryAfter);
                return;
            }

            var error = await PrepareAsync(http);
            if (error is not null)
            {
                await error.Value.Error.WriteAsync(http, error.Value.RetryAfter);
                return;
            }

            await ForwardAsync(http, next);
        }
        finally
        {
            metrics.Requests.WithLabels(route, http.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        }
    }

    private async Task<(ApiError Error, int? RetryAfter)?> PrepareAsync(HttpContext http)
    {
        var retry = options.Value.RetryAfterSeconds;
        if (drain.Draining)
        {
            return (new ApiError(503, "shutting_down", "The server is shutting down; retry on another instance."), retry);
        }

        if (pool.Ready.Count == 0)
        {
            return (new ApiError(503, "no_workers_ready", "No worker is ready yet (starting or restarting). Retry shortly."), retry);
        }

        var (body, bodyError) = await RequestBody.ReadAsync(http, options.Value.MaxBodyBytes);
        if (bodyError is not null)
        {
            return (bodyError, null);
        }

        JsonElement json;
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
            json = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return (new ApiError(400, "invalid_json", $"The request body is not valid JSON: {e.Message}"), null);
        }

        if (json.ValueKind != JsonValueKind.Object)
        {
            return (new ApiError(400, "invalid_type", "The request body must be a JSON object."), null);
        }

        if (JsonStrings.FindUndecodable(body) is { } textError)
        {
            return (textError, null);
        }

        var (session, sessionError) = SessionIdentity.Resolve(http.Request, json, ApiKeyAuth.TenantOf(http));
        if (sessionError is not null)
        {
            return (sessionError, null);
        }

        var kind = http.Request.Path.StartsWithSegments("/v1/chat/completions") ? GenerateCall.ChatKind : GenerateCall.CompletionKind;
        var requestId = Guid.NewGuid().ToString("N")[..24];
        var (call, callError) = validator.Validate(json, kind, requestId, session!, pool.ToolFormat);
        if (callError is not null)
        {
            return (callError, null);
        }

        var worker = router.Route(call!.SessionKey);
        var proxy = http.GetReverseProxyFeature();
        var destination = worker is null ? null : proxy.AllDestinations.FirstOrDefault(d => d.DestinationId == worker.Id);
        if (worker is null || destination is null)
        {
            return (new ApiError(503, "no_workers_ready", "No worker is ready yet (starting or restarting). Retry shortly."), retry);
        }

        proxy.AvailableDestinations = [destination];
        var callBytes = JsonSerializer.SerializeToUtf8Bytes(call, GenerateCall.JsonOptions);
        http.Items[CallItem] = call;
        // YARP forwards HttpContext.Request's body; the worker receives the validated call instead of the client's JSON.
        http.Request.Body = new MemoryStream(callBytes);
        http.Request.ContentLength = callBytes.Length;
        http.Request.ContentType = "application/json";
        http.Items[WorkerItem] = worker;
        return null;
    }

    private const string WorkerItem = "serving.worker";

    /// <summary>The worker the pipeline chose for this request (set before YARP forwards it).</summary>
    public static WorkerEntry ChosenWorker(HttpContext http) => (WorkerEntry)http.Items[WorkerItem]!;

    private async Task ForwardAsync(HttpContext http, Func<Task> next)
    {
        var call = (GenerateCall)http.Items[CallItem]!;
        var worker = ChosenWorker(http);
        worker.BeginRequest();
        if (call.SessionKey is not null)
        {
            affinity.Begin(call.SessionKey, worker.Id, worker.Generation);
        }

        metrics.ActiveSessions.Set(affinity.InFlightSessions);
        var lifetime = new DeferredAbortFeature(http.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>());
        http.Features.Set<IHttpRequestLifetimeFeature>(lifetime);
        try
        {
            await next();
            var failure = http.Features.Get<IForwarderErrorFeature>();
            if (failure is not null && failure.Error != ForwarderError.None)
            {
                await ReportForwardFailureAsync(http, call, lifetime, failure.Error);
            }
        }
        finally
        {
            worker.EndRequest();
            if (call.SessionKey is not null)
            {
                affinity.End(call.SessionKey, call.IsFinal);
            }

            metrics.ActiveSessions.Set(affinity.InFlightSessions);
        }
    }

    /// <summary>
    /// A worker that died mid-request: an OpenAI error, in the stream if it had started (as OpenAI sends mid-stream
    /// errors), and then the connection is cut without <c>[DONE]</c>, so clients that ignore error events still fail
    /// instead of mistaking a truncated answer for a complete one. Never a hang.
    /// </summary>
    private static async Task ReportForwardFailureAsync(HttpContext http, GenerateCall call, DeferredAbortFeature lifetime, ForwarderError error)
    {
        var message = $"The worker serving this request failed ({error}). The session's next request will be served again; retry it.";
        if (!http.Response.HasStarted)
        {
            http.Response.Clear();
            await new ApiError(502, "worker_failed", message).WriteAsync(http);
            return;
        }

        if (call.Stream && lifetime.AbortRequested && !http.RequestAborted.IsCancellationRequested)
        {
            try
            {
                var body = JsonSerializer.Serialize(new ApiError(502, "worker_failed", message).Body);
                await http.Response.WriteAsync($"data: {body}\n\n");
                await http.Response.Body.FlushAsync();
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                // The client is gone too.
            }
        }

        lifetime.AbortNow();
    }

    /// <summary>
    /// YARP aborts the connection when the upstream fails after the response began. For SSE we first want to tell
    /// the client why, so the abort is held back and performed (or replaced by an error event) after YARP returns.
    /// </summary>
    private sealed class DeferredAbortFeature(IHttpRequestLifetimeFeature inner) : IHttpRequestLifetimeFeature
    {
        public bool AbortRequested { get; private set; }

        public CancellationToken RequestAborted
        {
            get => inner.RequestAborted;
            set => inner.RequestAborted = value;
        }

        public void Abort() => AbortRequested = true;

        public void AbortNow() => inner.Abort();
    }
}
