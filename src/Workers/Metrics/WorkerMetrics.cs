using Prometheus;

namespace Serving.Workers.Metrics;

/// <summary>
/// The worker's Prometheus metrics: vLLM's meanings and buckets under the <c>serving_</c> prefix (prometheus-net
/// rejects vLLM's colons), plus the agent metrics only this server has (parking, restores, tool pauses). Each
/// instance owns its registry, so several workers in one test process never share counters.
/// </summary>
public sealed class WorkerMetrics
{
    // vLLM's bucket lists (vllm/v1/metrics/loggers.py).
    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
    private static readonly double[] ItlBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
    private static readonly double[] RequestBuckets = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];
    private static readonly double[] CopyBuckets = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
    private static readonly double[] PauseBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];

    public WorkerMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        RequestsRunning = f.CreateGauge("serving_num_requests_running", "Requests in the engine's running set.");
        RequestsWaiting = f.CreateGauge("serving_num_requests_waiting", "Requests waiting for a slot.");
        KvCacheUsage = f.CreateGauge("serving_kv_cache_usage_perc", "KV-cache usage, 0 to 1 (1 = all blocks in use).");
        SessionsParked = f.CreateGauge("serving_num_sessions_parked", "Sessions whose KV is parked in host memory or on disk.");
        SessionsResident = f.CreateGauge("serving_num_sessions_resident", "Sessions whose KV occupies a sequence slot (each holds an admission place).");
        Sessions = f.CreateGauge("serving_num_sessions", "Sessions the scheduler remembers (any state but ended).");
        EngineCostScale = f.CreateGauge("serving_engine_cost_scale", "Engine step time over the scheduler's default cost model, by part (decode, prefill): what the scheduler has learned about the served model.", new GaugeConfiguration { LabelNames = ["part"] });
        AdmissionWindow = f.CreateGauge("serving_admission_window", "AIMD admission window: slots that sessions may hold at once.");
        AdmissionRejections = f.CreateCounter("serving_admission_rejections_total", "Turns refused because the worker's queue was full (503 with Retry-After).");
        PromptTokens = f.CreateCounter("serving_prompt_tokens_total", "Prompt tokens of finished and running requests.");
        CachedPromptTokens = f.CreateCounter("serving_prompt_tokens_cached_total", "Prompt tokens served from the session's KV (not recomputed).");
        GenerationTokens = f.CreateCounter("serving_generation_tokens_total", "Generated tokens.");
        Preemptions = f.CreateCounter("serving_num_preemptions_total", "Kept sessions evicted from their slot for waiting work.");
        RequestSuccess = f.CreateCounter("serving_request_success_total", "Finished requests by finish reason.", new CounterConfiguration { LabelNames = ["finished_reason"] });
        Ttft = f.CreateHistogram("serving_time_to_first_token_seconds", "Time from arrival at the worker to the first token.", new HistogramConfiguration { Buckets = TtftBuckets });
        InterToken = f.CreateHistogram("serving_inter_token_latency_seconds", "Time between consecutive output tokens.", new HistogramConfiguration { Buckets = ItlBuckets });
        E2e = f.CreateHistogram("serving_e2e_request_latency_seconds", "Time from arrival to the last token.", new HistogramConfiguration { Buckets = RequestBuckets });
        QueueTime = f.CreateHistogram("serving_request_queue_time_seconds", "Time from arrival to the first scheduled step.", new HistogramConfiguration { Buckets = RequestBuckets });
        Parks = f.CreateCounter("serving_session_park_total", "Session KV parks by result (ok, failed).", new CounterConfiguration { LabelNames = ["result"] });
        Restores = f.CreateCounter("serving_session_restore_total", "Session resumes by result: hit (resident), restored (from the parking store), recompute (KV lost or dropped).", new CounterConfiguration { LabelNames = ["result"] });
        ParkSeconds = f.CreateHistogram("serving_park_seconds", "Time to copy a session's KV out of its slot.", new HistogramConfiguration { Buckets = CopyBuckets });
        RestoreSeconds = f.CreateHistogram("serving_restore_seconds", "Time to copy a session's KV back into a slot.", new HistogramConfiguration { Buckets = CopyBuckets });
        ToolPause = f.CreateHistogram("serving_tool_pause_seconds", "Time between a session's turns (tool execution on the client).", new HistogramConfiguration { Buckets = PauseBuckets });
        EnginePhase = f.CreateCounter("serving_engine_phase_seconds_total", "Engine-thread time by step phase: plan (scheduler), memory (park/restore/copy), decode (llama_decode), sample (logits, sampling, text, streaming), complete (scheduler bookkeeping, stats).", new CounterConfiguration { LabelNames = ["phase"] });
        ProcessCpu = f.CreateGauge("serving_worker_cpu_seconds", "CPU time used by this worker process (all threads, llama.cpp's included).");
        Registry.AddBeforeCollectCallback(() => ProcessCpu.Set(Environment.CpuUsage.TotalTime.TotalSeconds));
        DecodeBatch = f.CreateHistogram("serving_decode_batch_sequences", "Sequences decoding together in one engine step (steps with at least one): batching's reach.", new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256] });
        StepTokens = f.CreateHistogram("serving_iteration_tokens", "Tokens per engine step.", new HistogramConfiguration { Buckets = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048] });
    }

    public CollectorRegistry Registry { get; }
    public Gauge RequestsRunning { get; }
    public Gauge RequestsWaiting { get; }
    public Gauge KvCacheUsage { get; }
    public Gauge SessionsParked { get; }
    public Gauge SessionsResident { get; }
    public Gauge Sessions { get; }
    public Gauge AdmissionWindow { get; }
    public Gauge EngineCostScale { get; }
    public Histogram DecodeBatch { get; }
    public Counter AdmissionRejections { get; }
    public Counter PromptTokens { get; }
    public Counter CachedPromptTokens { get; }
    public Counter GenerationTokens { get; }
    public Counter Preemptions { get; }
    public Counter RequestSuccess { get; }
    public Histogram Ttft { get; }
    public Histogram InterToken { get; }
    public Histogram E2e { get; }
    public Histogram QueueTime { get; }
    public Counter Parks { get; }
    public Counter Restores { get; }
    public Histogram ParkSeconds { get; }
    public Histogram RestoreSeconds { get; }
    public Histogram ToolPause { get; }
    public Histogram StepTokens { get; }
    public Counter EnginePhase { get; }
    public Gauge ProcessCpu { get; }
}
