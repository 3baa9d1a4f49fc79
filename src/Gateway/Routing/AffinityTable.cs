using System.Collections.Concurrent;

namespace Serving.Gateway.Routing;

/// <summary>
/// Which worker holds each session's KV. Entries are refreshed on every request and expire with the session.
/// Thread-safe: read by the load-balancing policy on request threads.
/// </summary>
public sealed class AffinityTable(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (string Destination, DateTimeOffset LastUsed)> _map = new(StringComparer.Ordinal);

    public int Count => _map.Count;

    public bool Contains(string sessionKey) => _map.ContainsKey(sessionKey);

    public string? Lookup(string sessionKey) => _map.TryGetValue(sessionKey, out var e) ? e.Destination : null;

    public void Set(string sessionKey, string destination) => _map[sessionKey] = (destination, time.GetUtcNow());

    public bool Remove(string sessionKey) => _map.TryRemove(sessionKey, out _);

    /// <summary>Removes and returns sessions idle longer than <paramref name="idle"/> with the worker each was on.</summary>
    public List<(string Session, string Destination)> Expire(TimeSpan idle)
    {
        var cutoff = time.GetUtcNow() - idle;
        var expired = new List<(string, string)>();
        foreach (var (key, entry) in _map)
        {
            if (entry.LastUsed < cutoff && _map.TryRemove(key, out _))
            {
                expired.Add((key, entry.Destination));
            }
        }

        return expired;
    }
}
