using Serving.Cache.Parking;
using Serving.Scheduler;
using Serving.Scheduler.Contracts;
using Serving.Workers.Commands;

namespace Serving.Workers.Hosting;

/// <summary>Everything a worker process is started with; parsed and validated from the serve command line.</summary>
public sealed record WorkerSettings
{
    public required string ModelPath { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }
    public int Slots { get; init; } = 8;
    public int ContextPerSlot { get; init; } = 2048;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int BatchTokens { get; init; } = 512;
    public string Scheduling { get; init; } = SchedulingPolicies.Mlfq;
    public string PausePolicy { get; init; } = PausePolicies.Adaptive;

    /// <summary>See <see cref="Scheduler.SchedulerOptions.DecodeFirst"/>; off mixes a prefill chunk into every step.</summary>
    public bool DecodeFirst { get; init; } = true;

    /// <summary>See <see cref="Scheduler.SchedulerOptions.CalibrateCosts"/>; off keeps the default cost model.</summary>
    public bool CalibrateCosts { get; init; } = true;
    public long HostPoolBytes { get; init; } = 512L << 20;
    public string? DiskSpillDir { get; init; }
    public long DiskSpillBytes { get; init; }
    public int QueueCapacity { get; init; } = 1024;

    /// <summary>Sessions idle this long are ended; the gateway passes its own Gateway:SessionIdleTimeout, so both agree.</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = new SchedulerOptions().SessionIdleTimeout;

    /// <summary>PEM certificate and key: the worker serves HTTPS (a remote worker the gateway reaches over a network).</summary>
    public string? TlsCertificate { get; init; }

    public string? TlsKey { get; init; }

    /// <summary>A Jinja chat template file instead of the GGUF's own.</summary>
    public string? ChatTemplateFile { get; init; }

    /// <summary>The tool-call format instead of the one the template teaches.</summary>
    public string? ToolParser { get; init; }

    /// <summary>The gateway's process id: the worker stops when that process is gone.</summary>
    public int? ParentPid { get; init; }

    /// <summary>
    /// Every request must carry it (<see cref="WorkerSecret"/>). <c>serve</c> takes it from the environment and refuses
    /// to start without one; null only for workers hosted in-process by tests.
    /// </summary>
    public string? Secret { get; init; }

    public static readonly IReadOnlyList<string> OptionNames =
        ["model", "host", "port", "slots", "ctx-per-slot", "threads", "batch-tokens", "scheduler", "pause-policy", "decode-first", "calibrate-costs", "host-pool-mb", "disk-spill-dir", "disk-spill-mb", "queue", "idle-timeout-s", "parent-pid", "tls-cert", "tls-key", "chat-template", "tool-parser"];

    /// <summary>Parses <c>--name value</c> options; every problem is collected into <paramref name="errors"/>.</summary>
    public static WorkerSettings Parse(string[] args, List<string> errors)
    {
        var o = CommandLineOptions.Parse(args, OptionNames);
        var settings = new WorkerSettings
        {
            ModelPath = o.Get("model", ""),
            Host = o.Get("host", "127.0.0.1"),
            Port = o.GetInt("port", 0, 0, 65535),
            Slots = o.GetInt("slots", 8, 1, 256),
            ContextPerSlot = o.GetInt("ctx-per-slot", 2048, 64, 131072),
            Threads = o.GetInt("threads", Environment.ProcessorCount, 1, 256),
            BatchTokens = o.GetInt("batch-tokens", 512, 16, 8192),
            Scheduling = o.Get("scheduler", SchedulingPolicies.Mlfq),
            PausePolicy = o.Get("pause-policy", PausePolicies.Adaptive),
            DecodeFirst = o.GetSwitch("decode-first", true),
            CalibrateCosts = o.GetSwitch("calibrate-costs", true),
            HostPoolBytes = (long)o.GetInt("host-pool-mb", 512, 0, 1 << 20) << 20,
            DiskSpillDir = o.Values.GetValueOrDefault("disk-spill-dir"),
            DiskSpillBytes = (long)o.GetInt("disk-spill-mb", 0, 0, 1 << 24) << 20,
            QueueCapacity = o.GetInt("queue", 1024, 1, 1 << 20),
            ParentPid = o.Values.ContainsKey("parent-pid") ? o.GetInt("parent-pid", 0, 1, int.MaxValue) : null,
            SessionIdleTimeout = TimeSpan.FromSeconds(o.GetInt("idle-timeout-s", (int)new SchedulerOptions().SessionIdleTimeout.TotalSeconds, 1, int.MaxValue)),
            TlsCertificate = o.Values.GetValueOrDefault("tls-cert"),
            TlsKey = o.Values.GetValueOrDefault("tls-key"),
            ChatTemplateFile = o.Values.GetValueOrDefault("chat-template"),
            ToolParser = o.Values.GetValueOrDefault("tool-parser"),
            Secret = Environment.GetEnvironmentVariable(WorkerSecret.EnvironmentVariable) is { Length: > 0 } secret ? secret : null,
        };
        errors.AddRange(o.Errors);
        if (settings.ModelPath.Length == 0)
        {
            errors.Add("--model is required");
        }

        if ((settings.TlsCertificate is null) != (settings.TlsKey is null))
        {
            errors.Add("--tls-cert and --tls-key go together (PEM certificate and its private key)");
        }

        foreach (var file in new[] { settings.TlsCertificate, settings.TlsKey }.OfType<string>().Where(f => !File.Exists(f)))
        {
            errors.Add($"TLS file not found: {file}");
        }

        errors.AddRange(settings.SchedulerOptions().Validate());
        errors.AddRange(settings.ParkingOptions().Validate());
        return settings;
    }

    public SchedulerOptions SchedulerOptions() => new()
    {
        Scheduling = Scheduling,
        PausePolicy = PausePolicy,
        DecodeFirst = DecodeFirst,
        CalibrateCosts = CalibrateCosts,
        MaxBatchTokens = BatchTokens,
        MaxWaitingTurns = QueueCapacity,
        SessionIdleTimeout = SessionIdleTimeout,
    };

    public ParkingOptions ParkingOptions() => new()
    {
        HostCapacityBytes = HostPoolBytes,
        DiskFolder = DiskSpillDir ?? Path.Combine(Path.GetTempPath(), $"serving-spill-{Environment.ProcessId}"),
        DiskCapacityBytes = DiskSpillBytes,
    };
}
