using Prometheus;

namespace Serving.Gateway.Metrics;

/// <summary>The gateway's own metrics; worker metrics are merged into /metrics by <see cref="MetricsMerger"/>.</summary>
public sealed class GatewayMetrics
{
    public GatewayMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("serving_gateway_requests_total", "Inference requests by route and status.", new CounterConfiguration { LabelNames = ["route", "status"] });
        ActiveSessions = f.CreateGauge("serving_active_sessions", "Sessions with a request in flight through the gateway.");
        RoutedSessions = f.CreateGauge("serving_routed_sessions", "Sessions bound to a worker and not yet ended (final turn or idle expiry).");
        WorkersReady = f.CreateGauge("serving_workers_ready", "Worker processes ready for traffic.");
        ProcessCpu = f.CreateGauge("serving_gateway_cpu_seconds", "CPU time used by the gateway process (routing, validation, proxying).");
        Registry.AddBeforeCollectCallback(() => ProcessCpu.Set(Environment.CpuUsage.TotalTime.TotalSeconds));
        WorkerRestarts = f.CreateCounter("serving_worker_restarts_total", "Worker processes restarted after exiting.");
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Gauge ActiveSessions { get; }
    public Gauge RoutedSessions { get; }
    public Gauge WorkersReady { get; }
    public Counter WorkerRestarts { get; }
    public Gauge ProcessCpu { get; }
}
