using Microsoft.Extensions.Options;
using Serving.Gateway.Configuration;
using Serving.Gateway.Metrics;
using Serving.Gateway.Supervision;
using Serving.Scheduler;
using Serving.Scheduler.Admission;

namespace Serving.Gateway.Admission;

public enum AdmissionOutcome { Admitted, QueueFull, TimedOut }

/// <summary>
/// Admits whole sessions (MARS): a session in flight is never stopped between turns; a new one enters only while
/// the AIMD window has room, else waits in a bounded queue, else is refused (503 + Retry-After). The window shrinks
/// when any worker's KV use passes 0.90 or sessions queue up, and grows by one per healthy interval.
/// </summary>
public sealed class SessionAdmission : IDisposable
{
    private readonly GatewayAdmissionOptions _options;
    private readonly WorkerPool _pool;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly AimdAdmission _aimd;
    private readonly HashSet<string> _active = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, TaskCompletionSource<bool> Ready)> _queue = new();
    private readonly Lock _lock = new();
    private readonly ITimer _timer;

    public SessionAdmission(IOptions<GatewayOptions> options, WorkerPool pool, GatewayMetrics metrics, TimeProvider time)
    {
        _options = options.Value.Admission;
        _pool = pool;
        _metrics = metrics;
        _time = time;
        _aimd = new AimdAdmission(new AdmissionOptions
        {
            InitialWindow = _options.InitialWindow,
            MinWindow = _options.MinWindow,
            MaxWindow = _options.MaxWindow,
        }, time.GetUtcNow());
        _timer = time.CreateTimer(_ => Tick(), null, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200));
        _metrics.AdmissionWindow.Set(_aimd.Window);
    }

    public int Window => _aimd.Window;

    public int ActiveSessions
    {
        get { lock (_lock) return _active.Count; }
    }

    public int Queued
    {
        get { lock (_lock) return _queue.Count; }
    }

    /// <summary>Lets the session's request through, waits for room, or refuses it.</summary>
    public async Task<AdmissionOutcome> EnterAsync(string sessionKey, CancellationToken ct)
    {
        TaskCompletionSource<bool> ready;
        LinkedListNode<(string, TaskCompletionSource<bool>)> node;
        lock (_lock)
        {
            if (_active.Contains(sessionKey) || _active.Count < _aimd.Window && _queue.Count == 0)
            {
                _active.Add(sessionKey);
                return AdmissionOutcome.Admitted;
            }

            if (_queue.Count >= _options.QueueLimit)
            {
                _metrics.AdmissionRejections.WithLabels("queue_full").Inc();
                return AdmissionOutcome.QueueFull;
            }

            ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _queue.AddLast((sessionKey, ready));
            _metrics.AdmissionQueue.Set(_queue.Count);
        }

        // The timeout runs on the injected clock, so tests drive it with FakeTimeProvider instead of waiting.
        using var timeout = new CancellationTokenSource(_options.QueueTimeout, _time);
        await using (timeout.Token.Register(() => ready.TrySetResult(false)))
        await using (ct.Register(() => ready.TrySetResult(false)))
        {
            if (await ready.Task)
            {
                return AdmissionOutcome.Admitted;
            }
        }

        lock (_lock)
        {
            if (node.List is not null)
            {
                _queue.Remove(node);
            }
            else
            {
                // Admitted by Pump just as the timeout fired: give the place back.
                _active.Remove(sessionKey);
            }

            _metrics.AdmissionQueue.Set(_queue.Count);
        }

        _metrics.AdmissionRejections.WithLabels("timeout").Inc();
        return AdmissionOutcome.TimedOut;
    }

    /// <summary>The session ended (final turn, expiry, or a one-shot request finished).</summary>
    public void Release(string sessionKey)
    {
        lock (_lock)
        {
            _active.Remove(sessionKey);
        }

        Pump();
    }

    private void Tick()
    {
        lock (_lock)
        {
            _aimd.Tick(_time.GetUtcNow(), _pool.MaxKvUsage, queueOverloaded: _queue.Count > 0 && _pool.TotalWaiting > 0);
            _metrics.AdmissionWindow.Set(_aimd.Window);
        }

        Pump();
    }

    private void Pump()
    {
        var admitted = new List<TaskCompletionSource<bool>>();
        lock (_lock)
        {
            while (_queue.First is { } first && _active.Count < _aimd.Window)
            {
                _queue.RemoveFirst();
                _active.Add(first.Value.Key);
                admitted.Add(first.Value.Ready);
            }

            _metrics.AdmissionQueue.Set(_queue.Count);
        }

        // Completions run outside the lock (continuations must never run under it).
        admitted.ForEach(r => r.TrySetResult(true));
    }

    public void Dispose() => _timer.Dispose();
}
