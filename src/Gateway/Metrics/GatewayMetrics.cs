using Prometheus;

namespace Serving.Gateway.Metrics;

/// <summary>The gateway's own metrics; worker metrics are merged into /metrics by <see cref="MetricsMerger"/>.</summary>
public sealed class GatewayMetrics
{
    public GatewayMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        AdmissionWindow = f.CreateGauge("serving_admission_window", "AIMD admission window: sessions allowed in flight.");
        AdmissionQueue = f.CreateGauge("serving_admission_queue_length", "New sessions waiting for admission.");
        AdmissionRejections = f.CreateCounter("serving_admission_rejections_total", "Requests refused by admission control.", new CounterConfiguration { LabelNames = ["reason"] });
        Requests = f.CreateCounter("serving_gateway_requests_total", "Inference requests by route and status.", new CounterConfiguration { LabelNames = ["route", "status"] });
        ActiveSessions = f.CreateGauge("serving_active_sessions", "Sessions admitted and not yet ended.");
        WorkersReady = f.CreateGauge("serving_workers_ready", "Worker processes ready for traffic.");
        WorkerRestarts = f.CreateCounter("serving_worker_restarts_total", "Worker processes restarted after exiting.");
    }

    public CollectorRegistry Registry { get; }
    public Gauge AdmissionWindow { get; }
    public Gauge AdmissionQueue { get; }
    public Counter AdmissionRejections { get; }
    public Counter Requests { get; }
    public Gauge ActiveSessions { get; }
    public Gauge WorkersReady { get; }
    public Counter WorkerRestarts { get; }
}
