using Serving.Cache.Parking;
using Serving.LoadTests.Compare;
using Serving.LoadTests.Soak;
using Serving.Scheduler;
using Serving.Workers.Engine;
using Serving.Workers.Metrics;
using Serving.Workers.Runtime;

namespace Serving.LoadTests.Tests;

/// <summary>
/// The soak: many distinct sessions, one one-token turn each, never final (as agent frameworks send). Every turn
/// must be answered: a server that holds places for idle sessions stalls after a few hundred.
/// </summary>
public sealed class SoakTests
{
    [Fact]
    public async Task Soak_StepLoopOnSimulatedEngine_100000Sessions_EveryTurnAnswered()
    {
        const int sessions = 100_000;
        using var engine = new SimulatedEngine(slots: 8, contextPerSlot: 512);
        using var store = new TieredParkingStore(new ParkingOptions { HostCapacityBytes = 16 << 20, PageBytes = 16 << 10 });
        var scheduler = AgentSchedulerFactory.Create(new SchedulerOptions(), new EngineShape(8, 512, 512), TimeProvider.System);
        using var service = new StepLoopGenerationService(engine, scheduler, store, new WorkerMetrics(), TimeProvider.System);
        service.Start();
        var prompt = engine.Tokenize("a short agent turn", addBos: true);

        var result = await SoakRunner.RunAsync(sessions, concurrency: 16, async (i, ct) =>
        {
            var request = new GenerationRequest($"r{i}", $"tenant:s{i}", prompt, 1, SamplingOptions.Greedy, [], false, null, null);
            await foreach (var e in service.GenerateAsync(request, null, ct))
            {
                if (e is CompletedEvent done)
                {
                    return done.Reason == FinishReason.Length && done.CompletionTokens == 1 ? null : done.Reason.ToString();
                }
            }

            return "no completion";
        }, TimeSpan.FromMinutes(3));

        Assert.True(result.Errors == 0, result.Describe());
        Assert.Equal(sessions, result.Completed);
        Assert.True(service.GetStats().ResidentSessions <= 8);
    }

    [Fact]
    public async Task Soak_RealServiceWithOneWorker_600Sessions_EveryTurnAnswered()
    {
        using var tiny = new TinyModelFolder("serving-soak-");
        await using var service = await ServiceProcess.StartAsync(tiny.Paths.GatewayDll, tiny.Paths.WorkerDll, tiny.Model, "mlfq", "adaptive",
            ["--workers", "1", "--slots", "4", "--threads", "1"], TimeSpan.FromMinutes(1));
        using var http = new HttpClient { BaseAddress = new Uri(service.Url + "/"), Timeout = TimeSpan.FromMinutes(1) };

        var result = await SoakRunner.RunAsync(600, concurrency: 4, SoakRunner.HttpTurn(http, "ci"), TimeSpan.FromMinutes(3));

        Assert.True(result.Errors == 0, result.Describe());
        Assert.Equal(600, result.Completed);
    }
}
