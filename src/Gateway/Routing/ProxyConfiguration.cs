using Serving.Gateway.Supervision;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Serving.Gateway.Routing;

/// <summary>
/// The YARP routes and the one worker cluster, built in code and updated whenever a worker becomes ready or goes
/// away. Timeouts are long because a CPU prefill can take minutes before the first byte.
/// </summary>
public sealed class ProxyConfiguration
{
    public const string ClusterId = "workers";
    public static readonly string[] InferencePaths = ["/v1/chat/completions", "/v1/completions"];

    private readonly InMemoryConfigProvider _provider;
    private readonly WorkerPool _pool;

    public ProxyConfiguration(InMemoryConfigProvider provider, WorkerPool pool)
    {
        _provider = provider;
        _pool = pool;
        pool.Changed += Update;
        Update();
    }

    public static IReadOnlyList<RouteConfig> Routes { get; } = InferencePaths.Select(path => new RouteConfig
    {
        RouteId = path.Trim('/').Replace('/', '-'),
        ClusterId = ClusterId,
        Match = new RouteMatch { Path = path, Methods = ["POST"] },
    }).ToList();

    public void Update()
    {
        var destinations = _pool.Ready.ToDictionary(w => w.Id, w => new DestinationConfig { Address = w.Url! });
        var cluster = new ClusterConfig
        {
            ClusterId = ClusterId,
            // Never consulted: the pipeline narrows every request to the one destination SessionRouter chose.
            LoadBalancingPolicy = Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.FirstAlphabetical,
            Destinations = destinations,
            HttpRequest = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(10), AllowResponseBuffering = false },
        };
        _provider.Update(Routes, [cluster]);
    }
}
