using Serving.Scheduler.Contracts;
using System.Collections.Concurrent;

namespace Serving.Gateway.Supervision;

/// <summary>A worker's load, as its /stats endpoint reported it.</summary>
public sealed record WorkerLoad(int RunningRequests, int WaitingRequests, int ResidentSessions, int ParkedSessions, double KvCacheUsage, int SlotCount, int FreeSlots, string? ToolFormat = null);

/// <summary>One worker as the gateway sees it. Ready workers get traffic; others are starting, restarting or dead.</summary>
public sealed class WorkerEntry(string id)
{
    public string Id { get; } = id;

    public string? Url { get; set; }

    /// <summary>What the worker checks on every call (<see cref="WorkerSecret"/>): new for each process started, configured for remote ones.</summary>
    public string Secret { get; set; } = "";

    /// <summary>The header every call to this worker carries (proxied turns and the gateway's own calls).</summary>
    public System.Net.Http.Headers.AuthenticationHeaderValue Authorization => new("Bearer", Secret);

    /// <summary>A request to this worker carrying its secret.</summary>
    public HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, Url + path) { Content = content };
        request.Headers.Authorization = Authorization;
        return request;
    }

    public volatile bool Ready;

    public WorkerLoad? Load { get; set; }

    /// <summary>How its model writes tool calls: from its ready line, then from its stats (remote workers).</summary>
    public string? ToolFormat { get; set; }

    public int Restarts { get; set; }

    /// <summary>Bumped on every (re)start, so stale health results and session bindings of an old process are ignored.</summary>
    public int Generation { get; set; }

    private int _inFlight;

    /// <summary>Requests the gateway is forwarding to this worker now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public void BeginRequest() => Interlocked.Increment(ref _inFlight);

    public void EndRequest() => Interlocked.Decrement(ref _inFlight);
}

/// <summary>
/// The set of workers and their latest load, shared by routing, admission, health and metrics. Readiness changes
/// raise <see cref="Changed"/> so the proxy configuration follows.
/// </summary>
public sealed class WorkerPool
{
    private readonly ConcurrentDictionary<string, WorkerEntry> _workers = new();

    public event Action? Changed;

    /// <summary>A live worker process reported itself unhealthy: the supervisor replaces that generation.</summary>
    public event Action<WorkerEntry, int>? Unhealthy;

    public void ReportUnhealthy(WorkerEntry worker, int generation)
    {
        SetReady(worker, false);
        Unhealthy?.Invoke(worker, generation);
    }

    public IReadOnlyCollection<WorkerEntry> All => _workers.Values.OrderBy(w => w.Id, StringComparer.Ordinal).ToList();

    public IReadOnlyList<WorkerEntry> Ready => All.Where(w => w.Ready && w.Url is not null).ToList();

    /// <summary>
    /// How the served model writes tool calls, as its workers report it (all workers serve one model); Hermes until a
    /// worker has answered its first poll.
    /// </summary>
    public string ToolFormat => All.Select(w => w.ToolFormat ?? w.Load?.ToolFormat).FirstOrDefault(f => f is not null) ?? Scheduler.Contracts.ToolCallFormats.Hermes;

    public WorkerEntry Add(string id) => _workers.GetOrAdd(id, i => new WorkerEntry(i));

    public WorkerEntry? Find(string id) => _workers.GetValueOrDefault(id);

    public void SetReady(WorkerEntry worker, bool ready)
    {
        if (worker.Ready == ready)
        {
            return;
        }

        worker.Ready = ready;
        if (!ready)
        {
            worker.Load = null;
        }

        Changed?.Invoke();
    }

    /// <summary>Highest KV use across ready workers: the admission controller's pressure signal.</summary>
    public double MaxKvUsage => Ready.Select(w => w.Load?.KvCacheUsage ?? 0).DefaultIfEmpty(0).Max();

    public int TotalWaiting => Ready.Sum(w => w.Load?.WaitingRequests ?? 0);
}
