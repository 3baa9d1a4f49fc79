using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Serving.Gateway.Api;
using Serving.Gateway.Configuration;
using Serving.Gateway.Metrics;
using Serving.Gateway.Routing;
using Serving.Gateway.Supervision;
using Serving.Gateway.Tenancy;
using Microsoft.Extensions.Logging.Abstractions;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Unit;

public sealed class GatewayUnitTests
{
    private static ApiKeyAuth Auth(GatewayOptions options) => new(Options.Create(options), new ApiKeyStore(options, NullLogger<ApiKeyStore>.Instance));

    [Theory]
    [InlineData("Bearer sk-tenant-one", 200)]
    [InlineData("Bearer sk-tenant-two", 200)]
    [InlineData("Bearer sk-tenant-on", 401)]
    [InlineData("Bearer sk-tenant-one-and-more", 401)]
    [InlineData("Bearer ", 401)]
    [InlineData("", 401)]
    public async Task ApiKeyAuth_KeysComparedAsDigests_TenantIdNeverHoldsTheKey(string authorization, int status)
    {
        var auth = Auth(new GatewayOptions { ApiKeys = ["sk-tenant-one", "sk-tenant-two"] });
        var http = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        http.Request.Path = "/v1/chat/completions";
        http.Request.Headers.Authorization = authorization;
        http.Response.Body = new MemoryStream();
        var passed = false;
        await auth.InvokeAsync(http, _ => { passed = true; return Task.CompletedTask; });

        Assert.Equal((status, status == 200), (http.Response.StatusCode, passed));
        if (passed)
        {
            var tenant = ApiKeyAuth.TenantOf(http);
            Assert.StartsWith("key-", tenant);
            Assert.DoesNotContain("tenant", tenant);
        }
    }

    [Theory]
    [InlineData("/metrics", "Bearer scrape-key", 200)]
    [InlineData("/metrics", "Bearer sk-tenant-one", 401)]
    [InlineData("/metrics", "", 401)]
    [InlineData("/health/ready", "", 200)]
    public async Task ApiKeyAuth_MetricsKeySet_MetricsNeedItAndNothingElse(string path, string authorization, int status)
    {
        var auth = Auth(new GatewayOptions { ApiKeys = ["sk-tenant-one"], MetricsKey = "scrape-key" });
        var http = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        http.Request.Path = path;
        http.Request.Headers.Authorization = authorization;
        http.Response.Body = new MemoryStream();
        await auth.InvokeAsync(http, _ => Task.CompletedTask);
        Assert.Equal(status, http.Response.StatusCode);
    }

    [Theory]
    [InlineData("{\"a\":\"x\\ud800\"}", false)]
    [InlineData("{\"a\":\"\\udc00x\"}", false)]
    [InlineData("{\"\\ud800\":1}", false)]
    [InlineData("{\"a\":\"\\ud83d\\ude00 ok\"}", true)]
    [InlineData("{\"a\":[\"plain\",{\"b\":\"é\"}]}", true)]
    public void JsonStrings_UnpairedSurrogateEscapes_AreFoundAndPairsPass(string json, bool decodable)
    {
        var error = JsonStrings.FindUndecodable(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.Equal(decodable, error is null);
        if (error is not null)
        {
            Assert.Equal((400, "invalid_value"), (error.Status, error.Code));
        }
    }

    [Fact]
    public void MetricsMerger_TwoWorkers_EachFamilyOnceWithWorkerLabels()
    {
        const string page = "# HELP serving_x_total X.\n# TYPE serving_x_total counter\nserving_x_total{result=\"ok\"} 3\n" +
                            "# HELP serving_g G.\n# TYPE serving_g gauge\nserving_g 0.5\n";
        var merged = MetricsMerger.Merge([("w0", page), ("w1", page.Replace("3", "4"))]);
        var parsed = PrometheusText.Parse(merged);
        Assert.Equal(7, parsed.Sum("serving_x_total", "result", "ok"));
        Assert.Equal(["w0", "w1"], parsed.Samples.Where(s => s.Name == "serving_g").Select(s => s.Labels["worker"]));
        Assert.Equal(1, merged.Split('\n').Count(l => l.StartsWith("# TYPE serving_g ", StringComparison.Ordinal)));
    }

    [Fact]
    public void SessionIdentity_HeaderBeatsMetadataBeatsUser_AndTenantsGetDifferentKeys()
    {
        static string? KeyOf(string json, string tenant, string? header = null)
        {
            var http = new DefaultHttpContext();
            if (header is not null) http.Request.Headers["X-Dynamo-Session-Id"] = header;
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            return SessionIdentity.Resolve(http.Request, doc.RootElement, tenant).Session!.Key;
        }

        const string body = """{"metadata":{"session_id":"meta"},"user":"u"}""";
        Assert.EndsWith(":hdr", KeyOf(body, "a", "hdr"));
        Assert.EndsWith(":meta", KeyOf(body, "a"));
        Assert.EndsWith(":u", KeyOf("""{"user":"u"}""", "a"));
        Assert.Null(KeyOf("{}", "a"));
        Assert.NotEqual(KeyOf(body, "tenant-a"), KeyOf(body, "tenant-b"));
        Assert.DoesNotContain("tenant-a", KeyOf(body, "tenant-a"));
    }

    [Fact]
    public void SessionRouter_KnownSessionSticks_NewSessionGoesToLeastLoaded_MovesWhenItsWorkerIsGoneOrRestarted()
    {
        var pool = new WorkerPool();
        var w0 = Ready(pool, "w0", new WorkerLoad(3, 2, 4, 0, 0.5, 8, 4));
        var w1 = Ready(pool, "w1", new WorkerLoad(0, 0, 1, 0, 0.1, 8, 7));
        var affinity = new AffinityTable(TimeProvider.System);
        var router = new SessionRouter(affinity, pool);

        var first = router.Route("t:s1")!;
        Assert.Equal("w1", first.Id);
        affinity.Begin("t:s1", first.Id, first.Generation);
        affinity.End("t:s1", final: false);
        w1.Load = new WorkerLoad(9, 9, 8, 0, 0.9, 8, 0);
        Assert.Equal("w1", router.Route("t:s1")!.Id); // sticks despite load
        Assert.Equal("w0", router.Route("t:new")!.Id); // a new session goes to the least loaded

        w1.Generation++; // the process was replaced: it holds none of the session's KV
        Assert.Equal("w0", router.Route("t:s1")!.Id);
        pool.SetReady(w0, false);
        pool.SetReady(w1, true);
        Assert.Equal("w1", router.Route("t:s1")!.Id); // only one ready worker: routing still decides (no YARP policy involved)
        pool.SetReady(w1, false);
        Assert.Null(router.Route("t:s1"));
    }

    [Fact]
    public void AffinityTable_IdleCountsFromTheEndOfTheLastRequest_NeverWhileOneRuns_FinalRemoves()
    {
        var time = new FakeTimeProvider();
        var table = new AffinityTable(time);
        var idle = TimeSpan.FromMinutes(10);
        table.Begin("long", "w0", 1);
        table.Begin("short", "w0", 1);
        table.Begin("short", "w0", 1);
        Assert.Equal(2, table.InFlightSessions);
        table.End("short", final: false);
        table.End("short", final: false);
        Assert.Equal(1, table.InFlightSessions);
        time.Advance(TimeSpan.FromMinutes(11));
        // "long" has run for 11 minutes: still in flight, so not idle; "short" ended 11 minutes ago.
        Assert.Equal([("short", "w0", 1)], table.Expire(idle));
        table.End("long", final: false);
        Assert.Equal(0, table.InFlightSessions);
        Assert.Empty(table.Expire(idle));
        time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        Assert.Equal("long", Assert.Single(table.Expire(idle)).Session);

        table.Begin("s", "w0", 1);
        table.End("s", final: true);
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public async Task StatsPoller_WorkerAnswers503_ReportsItUnhealthyForReplacement()
    {
        var pool = new WorkerPool();
        var worker = Ready(pool, "w0", new WorkerLoad(0, 0, 0, 0, 0, 4, 4));
        worker.Generation = 3;
        var reported = new TaskCompletionSource<(string, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        pool.Unhealthy += (w, generation) => reported.TrySetResult((w.Id, generation));
        var options = Options.Create(new GatewayOptions { Workers = new WorkerPoolOptions { StatsInterval = TimeSpan.FromMilliseconds(10) } });
        using var poller = new WorkerStatsPoller(options, pool, new StubClients(path => path == "/stats"
            ? new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable)
            : new HttpResponseMessage(System.Net.HttpStatusCode.NotFound)));

        await poller.StartAsync(default);
        Assert.Equal(("w0", 3), await reported.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(worker.Ready);
        await poller.StopAsync(default);
    }

    private sealed class StubClients(Func<string, HttpResponseMessage> answer) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new(new Handler(answer));

        private sealed class Handler(Func<string, HttpResponseMessage> answer) : HttpMessageHandler
        {
            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
                Task.FromResult(answer(request.RequestUri!.AbsolutePath));
        }
    }

    private static WorkerEntry Ready(WorkerPool pool, string id, WorkerLoad load)
    {
        var worker = pool.Add(id);
        worker.Url = "http://127.0.0.1:1";
        worker.Load = load;
        pool.SetReady(worker, true);
        worker.Load = load;
        return worker;
    }

    [Fact]
    public void Options_ManyProblems_AllReportedAtOnce()
    {
        var errors = new GatewayOptions { MaxBodyBytes = 1, Workers = new WorkerPoolOptions { Count = 0, Scheduler = "lifo", PausePolicy = "never" } }.Validate();
        Assert.Contains(errors, e => e.Contains("MaxBodyBytes"));
        Assert.Contains(errors, e => e.Contains("--workers"));
        Assert.Contains(errors, e => e.Contains("--model"));
        Assert.Contains(errors, e => e.Contains("lifo"));
        Assert.Contains(errors, e => e.Contains("never"));
    }
}
