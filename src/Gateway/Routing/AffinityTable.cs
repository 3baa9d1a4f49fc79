namespace Serving.Gateway.Routing;

/// <summary>
/// Which worker process (id and generation) holds each session's KV, and how many of the session's requests are in
/// flight. A session is idle only while none is: idle time counts from the end of its last request, so a turn longer
/// than the idle timeout is never ended under it. Entries go on the final turn, on idle expiry, and are ignored once
/// their worker process has been replaced (a new generation holds none of their KV). Thread-safe.
/// </summary>
public sealed class AffinityTable(TimeProvider time)
{
    private sealed class Entry(string workerId, int generation)
    {
        public string WorkerId = workerId;
        public int Generation = generation;
        public int InFlight;
        public DateTimeOffset LastUsed;
    }

    private readonly Dictionary<string, Entry> _map = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private int _inFlightSessions;

    public int Count
    {
        get { lock (_lock) return _map.Count; }
    }

    /// <summary>Sessions with at least one request in flight (counted as they change: read on every request).</summary>
    public int InFlightSessions
    {
        get { lock (_lock) return _inFlightSessions; }
    }

    public (string WorkerId, int Generation)? Lookup(string sessionKey)
    {
        lock (_lock)
        {
            return _map.TryGetValue(sessionKey, out var e) ? (e.WorkerId, e.Generation) : null;
        }
    }

    /// <summary>A request of the session starts on this worker process (binding the session to it).</summary>
    public void Begin(string sessionKey, string workerId, int generation)
    {
        lock (_lock)
        {
            if (!_map.TryGetValue(sessionKey, out var e))
            {
                _map[sessionKey] = e = new Entry(workerId, generation);
            }

            (e.WorkerId, e.Generation) = (workerId, generation);
            if (e.InFlight++ == 0)
            {
                _inFlightSessions++;
            }

            e.LastUsed = time.GetUtcNow();
        }
    }

    /// <summary>A request of the session ended; a final one removes the session once nothing else of it runs.</summary>
    public void End(string sessionKey, bool final)
    {
        lock (_lock)
        {
            if (!_map.TryGetValue(sessionKey, out var e))
            {
                return;
            }

            if (e.InFlight > 0 && --e.InFlight == 0)
            {
                _inFlightSessions--;
            }

            e.LastUsed = time.GetUtcNow();
            if (final && e.InFlight == 0)
            {
                _map.Remove(sessionKey);
            }
        }
    }

    /// <summary>Removes and returns sessions with nothing in flight whose last request ended more than <paramref name="idle"/> ago.</summary>
    public List<(string Session, string WorkerId, int Generation)> Expire(TimeSpan idle)
    {
        var cutoff = time.GetUtcNow() - idle;
        var expired = new List<(string, string, int)>();
        lock (_lock)
        {
            foreach (var (key, e) in _map)
            {
                if (e.InFlight == 0 && e.LastUsed < cutoff)
                {
                    expired.Add((key, e.WorkerId, e.Generation));
                }
            }

            foreach (var (key, _, _) in expired)
            {
                _map.Remove(key);
            }
        }

        return expired;
    }
}
