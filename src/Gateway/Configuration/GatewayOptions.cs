namespace Serving.Gateway.Configuration;

/// <summary>
/// Gateway settings, bound from the "Gateway" section (appsettings.json, environment variables
/// <c>Gateway__Key</c>, command line). <see cref="Validate"/> reports every problem at once.
/// </summary>
public sealed class GatewayOptions
{
    /// <summary>Accepted API keys. Empty = no authentication (local use only).</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>
    /// A file of further API keys, one per line ('#' comments), read again whenever it changes (see
    /// <see cref="Tenancy.ApiKeyStore"/>).
    /// </summary>
    public string? ApiKeysFile { get; set; }

    /// <summary>Per-tenant (per-key) bounds on requests in flight and per minute; none by default.</summary>
    public Tenancy.TenantLimitOptions Tenants { get; set; } = new();

    /// <summary>When set, GET /metrics needs <c>Authorization: Bearer</c> this key (Prometheus: <c>authorization.credentials</c>).</summary>
    public string? MetricsKey { get; set; }

    /// <summary>Largest accepted request body; larger bodies get 413.</summary>
    public long MaxBodyBytes { get; set; } = 4L << 20;

    /// <summary>
    /// Upper bound an operator may put on max_tokens / max_completion_tokens; by default none beyond the context
    /// (a request for more than the context holds gets 400 context_length_exceeded from the worker, as OpenAI answers).
    /// </summary>
    public int MaxTokensCap { get; set; } = 1 << 20;

    /// <summary>
    /// max_tokens when the request sets none; 0 (the default) = as many as the context leaves, OpenAI's semantics —
    /// no hidden cap (the response says finish_reason "length" if the context ran out).
    /// </summary>
    public int DefaultMaxTokens { get; set; }

    public int MaxMessages { get; set; } = 2048;

    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long SIGTERM waits for in-flight requests before stopping the workers.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The model id reported by /v1/models; default: the model file's name.</summary>
    public string? ModelName { get; set; }

    public WorkerPoolOptions Workers { get; set; } = new();

    /// <summary>Retry-After (seconds) on the gateway's own 503s (draining, no worker ready).</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    public List<string> Validate()
    {
        var errors = new List<string>();
        if (ApiKeys.Any(string.IsNullOrWhiteSpace)) errors.Add("Gateway:ApiKeys must not contain empty keys");
        if (ApiKeysFile is { Length: > 0 } file)
        {
            var (keys, error) = Tenancy.ApiKeyStore.ReadKeysFile(file);
            if (error is not null) errors.Add($"Gateway:ApiKeysFile cannot be read: {error}");
            else if (keys!.Count == 0) errors.Add($"Gateway:ApiKeysFile {file} holds no key (one key per line; '#' starts a comment)");
        }

        errors.AddRange(Tenants.Validate());
        if (MaxBodyBytes is < 1024 or > 1L << 30) errors.Add("Gateway:MaxBodyBytes must be 1 KiB..1 GiB");
        if (MaxTokensCap is < 1 or > 1 << 20) errors.Add("Gateway:MaxTokensCap must be 1..1048576");
        if (DefaultMaxTokens < 0 || DefaultMaxTokens > MaxTokensCap) errors.Add("Gateway:DefaultMaxTokens must be 0 (up to the context) ..MaxTokensCap");
        if (MaxMessages < 1) errors.Add("Gateway:MaxMessages must be positive");
        if (SessionIdleTimeout <= TimeSpan.Zero) errors.Add("Gateway:SessionIdleTimeout must be positive");
        if (DrainTimeout < TimeSpan.Zero) errors.Add("Gateway:DrainTimeout must be >= 0");
        errors.AddRange(Workers.Validate());
        if (RetryAfterSeconds < 1) errors.Add("Gateway:RetryAfterSeconds must be >= 1");
        return errors;
    }
}

/// <summary>The worker processes the gateway starts (or the remote workers it uses instead).</summary>
public sealed class WorkerPoolOptions
{
    public int Count { get; set; } = 1;
    public string? ModelPath { get; set; }

    /// <summary>Path of Serving.Workers.dll, started with <c>dotnet</c>.</summary>
    public string? WorkerPath { get; set; }

    /// <summary>Use these worker base URLs instead of starting processes.</summary>
    public List<string> RemoteUrls { get; set; } = [];

    /// <summary>The secret the remote workers were started with (their SERVING_WORKER_SECRET); required with RemoteUrls.</summary>
    public string? RemoteSecret { get; set; }

    /// <summary>
    /// PEM file of the CA (or self-signed certificate) that https:// remote workers' certificates must chain to;
    /// unset = the system's trust store.
    /// </summary>
    public string? RemoteCaFile { get; set; }

    public int Slots { get; set; } = 8;
    public int ContextPerSlot { get; set; } = 2048;

    /// <summary>Threads per worker; 0 = cores / workers.</summary>
    public int Threads { get; set; }

    public string Scheduler { get; set; } = "mlfq";
    public string PausePolicy { get; set; } = "adaptive";
    public int HostPoolMb { get; set; } = 512;
    public string? DiskSpillDir { get; set; }
    public int DiskSpillMb { get; set; }
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>How often the gateway reads each worker's /stats (load and health).</summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>A Jinja chat template file that replaces the model's own (<c>--chat-template</c>).</summary>
    public string? ChatTemplate { get; set; }

    /// <summary>The model's tool-call format when its template does not tell (<c>--tool-parser hermes|llama3|mistral|...</c>).</summary>
    public string? ToolParser { get; set; }

    /// <summary>Extra arguments appended to every worker's command line.</summary>
    public string ExtraArgs { get; set; } = "";

    public IEnumerable<string> Validate()
    {
        if (RemoteUrls.Count == 0)
        {
            if (Count is < 1 or > 64) yield return "Gateway:Workers:Count (--workers) must be 1..64";
            if (string.IsNullOrWhiteSpace(ModelPath)) yield return "Gateway:Workers:ModelPath (--model) is required";
            else if (!File.Exists(ModelPath)) yield return $"model file not found: {ModelPath}";
            if (string.IsNullOrWhiteSpace(WorkerPath)) yield return "Gateway:Workers:WorkerPath (--worker-path) is required";
            else if (!File.Exists(WorkerPath)) yield return $"worker executable not found: {WorkerPath}";
            if (ChatTemplate is { } template && !File.Exists(template)) yield return $"chat template file not found: {template}";
        }

        if (RemoteUrls.Count > 0 && string.IsNullOrEmpty(RemoteSecret))
        {
            yield return "Gateway:Workers:RemoteSecret is required with RemoteUrls: remote workers answer only callers that present their secret";
        }

        if (RemoteCaFile is { Length: > 0 } ca && Supervision.WorkerTls.Check(ca) is { } caError)
        {
            yield return $"Gateway:Workers:RemoteCaFile cannot be used: {caError}";
        }

        foreach (var url in RemoteUrls.Where(u => !Uri.TryCreate(u, UriKind.Absolute, out _)))
        {
            yield return $"Gateway:Workers:RemoteUrls has an invalid URL: {url}";
        }

        if (Slots is < 1 or > 256) yield return "Gateway:Workers:Slots must be 1..256";
        if (ContextPerSlot is < 64 or > 131072) yield return "Gateway:Workers:ContextPerSlot must be 64..131072";
        if (Threads is < 0 or > 256) yield return "Gateway:Workers:Threads must be 0..256";
        if (Scheduler is not ("mlfq" or "fcfs")) yield return $"Gateway:Workers:Scheduler must be mlfq or fcfs (was '{Scheduler}')";
        if (PausePolicy is not ("drop" or "keep" or "ttl" or "adaptive")) yield return $"Gateway:Workers:PausePolicy must be drop, keep, ttl or adaptive (was '{PausePolicy}')";
        if (HostPoolMb < 0) yield return "Gateway:Workers:HostPoolMb must be >= 0";
        if (StartupTimeout <= TimeSpan.Zero) yield return "Gateway:Workers:StartupTimeout must be positive";
        if (StatsInterval < TimeSpan.FromMilliseconds(10)) yield return "Gateway:Workers:StatsInterval must be >= 10 ms";
    }
}
