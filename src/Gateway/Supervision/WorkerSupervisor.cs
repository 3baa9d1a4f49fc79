using Serving.Scheduler.Contracts;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;

namespace Serving.Gateway.Supervision;

/// <summary>
/// Starts the worker processes, waits for each to print its ready line, restarts any that exits (with backoff), and
/// stops them all on shutdown. With remote worker URLs configured it starts nothing and only tracks their health.
/// </summary>
public sealed partial class WorkerSupervisor(IOptions<GatewayOptions> options, WorkerPool pool, ILogger<WorkerSupervisor> logger) : BackgroundService
{
    private readonly WorkerPoolOptions _options = options.Value.Workers;
    private readonly TimeSpan _idleTimeout = options.Value.SessionIdleTimeout;
    private readonly ConcurrentProcessList _processes = new();

    /// <summary>The worker processes currently running (tests kill one to check recovery).</summary>
    public IReadOnlyDictionary<string, Process> Processes => _processes.Snapshot();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.RemoteUrls.Count > 0)
        {
            for (var i = 0; i < _options.RemoteUrls.Count; i++)
            {
                var remote = pool.Add($"w{i}");
                remote.Url = _options.RemoteUrls[i].TrimEnd('/');
                remote.Secret = _options.RemoteSecret!;
            }

            return;
        }

        pool.Unhealthy += Replace;
        var loops = Enumerable.Range(0, _options.Count).Select(i => SuperviseAsync(pool.Add($"w{i}"), stoppingToken));
        await Task.WhenAll(loops);
    }

    /// <summary>Keeps one worker running until shutdown.</summary>
    private async Task SuperviseAsync(WorkerEntry worker, CancellationToken stop)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!stop.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            using var process = Start(worker);
            try
            {
                var (url, toolFormat) = await WaitForReadyLineAsync(process, worker.Id, stop);
                worker.Url = url;
                worker.ToolFormat = toolFormat;
                pool.SetReady(worker, true);
                LogReady(worker.Id, url, process.Id);
                await process.WaitForExitAsync(stop);
                LogExited(worker.Id, process.ExitCode);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                pool.SetReady(worker, false);
                await StopAsync(process);
                return;
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException)
            {
                LogStartFailed(worker.Id, e.Message);
                await StopAsync(process);
            }
            finally
            {
                _processes.Remove(worker.Id);
                worker.Url = null;
            }

            pool.SetReady(worker, false);
            worker.Restarts++;
            // A worker that ran a while gets a quick restart; one that keeps failing backs off up to 30 s.
            backoff = Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(1) ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            await Task.Delay(backoff, stop).ContinueWith(_ => { });
        }
    }

    /// <summary>
    /// A worker process that is alive but unhealthy (its engine failed) is killed; its supervision loop then restarts it
    /// like any exit. A report about an older generation is ignored: that process was replaced already.
    /// </summary>
    private void Replace(WorkerEntry worker, int generation)
    {
        if (worker.Generation != generation || !_processes.Snapshot().TryGetValue(worker.Id, out var process))
        {
            return;
        }

        LogUnhealthy(worker.Id, process.Id);
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited by itself meanwhile.
        }
    }

    private Process Start(WorkerEntry worker)
    {
        worker.Generation++;
        var threads = _options.Threads > 0 ? _options.Threads : Math.Max(1, Environment.ProcessorCount / _options.Count);
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     _options.WorkerPath!, "serve", "--model", _options.ModelPath!, "--port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--slots", $"{_options.Slots}", "--ctx-per-slot", $"{_options.ContextPerSlot}", "--threads", $"{threads}",
                     "--scheduler", _options.Scheduler, "--pause-policy", _options.PausePolicy, "--host-pool-mb", $"{_options.HostPoolMb}",
                     "--idle-timeout-s", $"{(int)Math.Ceiling(_idleTimeout.TotalSeconds)}", "--parent-pid", $"{Environment.ProcessId}",
                 })
        {
            psi.ArgumentList.Add(arg);
        }

        if (_options.DiskSpillMb > 0)
        {
            psi.ArgumentList.Add("--disk-spill-dir");
            psi.ArgumentList.Add(Path.Combine(_options.DiskSpillDir ?? Path.GetTempPath(), $"serving-{worker.Id}-{Environment.ProcessId}"));
            psi.ArgumentList.Add("--disk-spill-mb");
            psi.ArgumentList.Add($"{_options.DiskSpillMb}");
        }

        if (_options.ChatTemplate is { } template)
        {
            psi.ArgumentList.Add("--chat-template");
            psi.ArgumentList.Add(Path.GetFullPath(template)); // the worker may run from another folder
        }

        if (_options.ToolParser is { } parser)
        {
            psi.ArgumentList.Add("--tool-parser");
            psi.ArgumentList.Add(parser);
        }

        foreach (var extra in _options.ExtraArgs.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            psi.ArgumentList.Add(extra);
        }

        // In the environment, not argv: other local users can read a process's arguments.
        worker.Secret = WorkerSecret.Create();
        psi.Environment[WorkerSecret.EnvironmentVariable] = worker.Secret;
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet for the worker");
        _processes.Set(worker.Id, process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                LogWorkerError(worker.Id, e.Data);
            }
        };
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The worker's "worker ready on URL tool-format NAME" line: its URL and its model's tool-call format.</summary>
    private async Task<(string Url, string? ToolFormat)> WaitForReadyLineAsync(Process process, string id, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_options.StartupTimeout);
        const string marker = "worker ready on ";
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith(marker, StringComparison.Ordinal))
                {
                    // Keep draining stdout so the worker never blocks on a full pipe.
                    _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
                    var parts = line[marker.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return (parts[0], parts.Length > 2 && parts[1] == "tool-format" ? parts[2] : null);
                }
            }
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            throw new TimeoutException($"worker {id} did not become ready within {_options.StartupTimeout}");
        }

        throw new InvalidOperationException($"worker {id} exited before it was ready (exit code {(process.HasExited ? process.ExitCode : -1)}; see its errors above)");
    }

    /// <summary>SIGTERM first so the worker stops cleanly; kill it if it does not within 5 s.</summary>
    private static async Task StopAsync(Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        try
        {
            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit(2000);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await process.WaitForExitAsync(grace.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            process.Kill(entireProcessTree: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LoggerMessage(1, LogLevel.Information, "worker {Id} ready on {Url} (pid {Pid})")]
    private partial void LogReady(string id, string url, int pid);

    [LoggerMessage(2, LogLevel.Warning, "worker {Id} exited with code {Code}; restarting")]
    private partial void LogExited(string id, int code);

    [LoggerMessage(3, LogLevel.Error, "worker {Id} failed to start: {Reason}")]
    private partial void LogStartFailed(string id, string reason);

    [LoggerMessage(5, LogLevel.Error, "worker {Id} (pid {Pid}) reports itself unhealthy; replacing it")]
    private partial void LogUnhealthy(string id, int pid);

    [LoggerMessage(4, LogLevel.Warning, "worker {Id}: {Line}")]
    private partial void LogWorkerError(string id, string line);

    /// <summary>Id → running process, safe to read from other threads.</summary>
    private sealed class ConcurrentProcessList
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Process> _map = new();
        public void Set(string id, Process p) => _map[id] = p;
        public void Remove(string id) => _map.TryRemove(id, out _);
        public IReadOnlyDictionary<string, Process> Snapshot() => new Dictionary<string, Process>(_map);
    }
}
