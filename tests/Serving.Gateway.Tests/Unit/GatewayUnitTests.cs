using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Serving.Gateway.Admission;
using Serving.Gateway.Api;
using Serving.Gateway.Configuration;
using Serving.Gateway.Metrics;
using Serving.Gateway.Routing;
using Serving.Gateway.Supervision;
using Serving.Gateway.Tests.Support;
using Yarp.ReverseProxy.Model;

namespace Serving.Gateway.Tests.Unit;

public sealed class GatewayUnitTests
{
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
    public void SessionAffinity_KnownSessionSticks_NewSessionGoesToLeastLoaded()
    {
        var pool = new WorkerPool();
        pool.Add("w0").Load = new WorkerLoad(3, 2, 4, 0, 0.5, 8, 4);
        pool.Add("w1").Load = new WorkerLoad(0, 0, 1, 0, 0.1, 8, 7);
        var affinity = new AffinityTable(TimeProvider.System);
        var policy = new SessionAffinityPolicy(affinity, pool);
        var destinations = new[] { new DestinationState("w0"), new DestinationState("w1") };
        var http = new DefaultHttpContext();
        http.Items[SessionAffinityPolicy.SessionItem] = "t:s1";

        Assert.Equal("w1", policy.PickDestination(http, null!, destinations)!.DestinationId);
        pool.Find("w1")!.Load = new WorkerLoad(9, 9, 8, 0, 0.9, 8, 0);
        Assert.Equal("w1", policy.PickDestination(http, null!, destinations)!.DestinationId); // sticks despite load
        Assert.Equal("w0", policy.PickDestination(http, null!, [destinations[0]])!.DestinationId); // its worker is gone
        Assert.Equal("w0", affinity.Lookup("t:s1"));
    }

    [Fact]
    public async Task SessionAdmission_WindowFull_NewSessionQueuesUntilOneEndsAndRefusesPastTheQueue()
    {
        var time = new FakeTimeProvider();
        var options = Options.Create(new GatewayOptions { Admission = new GatewayAdmissionOptions { InitialWindow = 1, MinWindow = 1, MaxWindow = 1, QueueLimit = 1, QueueTimeout = TimeSpan.FromSeconds(5) } });
        using var admission = new SessionAdmission(options, new WorkerPool(), new GatewayMetrics(), time);

        Assert.Equal(AdmissionOutcome.Admitted, await admission.EnterAsync("a", default));
        Assert.Equal(AdmissionOutcome.Admitted, await admission.EnterAsync("a", default)); // a session in flight is never stopped
        var queued = admission.EnterAsync("b", default);
        Assert.False(queued.IsCompleted);
        Assert.Equal(AdmissionOutcome.QueueFull, await admission.EnterAsync("c", default));
        admission.Release("a");
        Assert.Equal(AdmissionOutcome.Admitted, await queued);
    }

    [Fact]
    public async Task SessionAdmission_QueuedTooLong_TimesOut()
    {
        var time = new FakeTimeProvider();
        var options = Options.Create(new GatewayOptions { Admission = new GatewayAdmissionOptions { InitialWindow = 1, MinWindow = 1, MaxWindow = 1, QueueTimeout = TimeSpan.FromMilliseconds(50) } });
        using var admission = new SessionAdmission(options, new WorkerPool(), new GatewayMetrics(), time);
        await admission.EnterAsync("a", default);
        var queued = admission.EnterAsync("b", default);
        Assert.Equal(1, admission.Queued);
        time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal(AdmissionOutcome.TimedOut, await queued);
        Assert.Equal(0, admission.Queued);
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
