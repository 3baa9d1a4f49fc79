using Serving.Gateway.Supervision;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Serving.Gateway.Routing;

/// <summary>
/// YARP load balancing keyed on the agent's session: a session sticks to the worker that holds its KV cache, so its
/// next turn reuses the cached prefix; a new session goes to the least-loaded ready worker. YARP's own affinity
/// needs a gateway-issued cookie or header echoed back, which OpenAI SDKs never do; the session header is the key.
/// </summary>
public sealed class SessionAffinityPolicy(AffinityTable affinity, WorkerPool pool) : ILoadBalancingPolicy
{
    public const string PolicyName = "SessionAffinity";

    /// <summary>HttpContext.Items key holding the request's tenant-scoped session key (set by the API pipeline).</summary>
    public const string SessionItem = "serving.session";

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0)
        {
            return null;
        }

        var session = context.Items[SessionItem] as string;
        if (session is not null && affinity.Lookup(session) is { } sticky)
        {
            foreach (var destination in availableDestinations)
            {
                if (destination.DestinationId == sticky)
                {
                    affinity.Set(session, sticky);
                    return destination;
                }
            }
            // Its worker is gone (crashed or removed): the session moves and its next turn recomputes the prefix.
        }

        var chosen = availableDestinations.MinBy(Load)!;
        if (session is not null)
        {
            affinity.Set(session, chosen.DestinationId);
        }

        return chosen;
    }

    /// <summary>Requests in flight through the gateway plus the worker's own queue and resident sessions.</summary>
    private double Load(DestinationState destination)
    {
        var load = pool.Find(destination.DestinationId)?.Load;
        var queue = load is null ? 0 : load.RunningRequests + load.WaitingRequests + 0.5 * (load.SlotCount - load.FreeSlots);
        return destination.ConcurrentRequestCount + queue;
    }
}
