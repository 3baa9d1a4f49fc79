using Serving.Scheduler.Contracts;
using Serving.Scheduler.Core;
using Serving.Scheduler.Costs;
using Serving.Scheduler.Pauses;

namespace Serving.Scheduler;

/// <summary>Builds a scheduler from configuration; the worker runtime and the simulation both start here.</summary>
public static class AgentSchedulerFactory
{
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    public static IAgentScheduler Create(SchedulerOptions options, EngineShape engine, TimeProvider time, EngineCostModel? costs = null)
    {
        var calibrated = new CalibratedCosts(costs ?? new EngineCostModel());
        return new AgentScheduler(options, engine, time, PausePolicyFactory.Create(options, calibrated), calibrated);
    }
}
