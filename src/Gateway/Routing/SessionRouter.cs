using Serving.Gateway.Supervision;

namespace Serving.Gateway.Routing;

/// <summary>
/// Picks the worker for each request: a session sticks to the worker process that holds its KV cache, so its next
/// turn reuses the cached prefix; a new session (or one whose worker was restarted or removed) goes to the least
/// loaded ready worker. The pipeline calls this itself and hands YARP exactly one destination: YARP skips its
/// load-balancing policy when a cluster has one destination, so routing must not depend on that policy.
/// </summary>
public sealed class SessionRouter(AffinityTable affinity, WorkerPool pool)
{
    /// <summary>The worker for the request, or null when none is ready.</summary>
    public WorkerEntry? Route(string? sessionKey)
    {
        var ready = pool.Ready;
        if (ready.Count == 0)
        {
            return null;
        }

        if (sessionKey is not null && affinity.Lookup(sessionKey) is { } bound)
        {
            foreach (var worker in ready)
            {
                if (worker.Id == bound.WorkerId && worker.Generation == bound.Generation)
                {
                    return worker;
                }
            }
            // Its worker process is gone: the session moves and its next turn recomputes the prefix.
        }

        return ready.MinBy(Load);
    }

    /// <summary>Requests in flight through the gateway plus the worker's own queue and resident sessions.</summary>
    private static double Load(WorkerEntry worker)
    {
        var load = worker.Load;
        var queue = load is null ? 0 : load.RunningRequests + load.WaitingRequests + 0.5 * (load.SlotCount - load.FreeSlots);
        return worker.InFlight + queue;
    }
}
