using Serving.Cache.Parking;
using Serving.Scheduler;
using Serving.Workers.Engine;
using Serving.Workers.Metrics;
using Serving.Workers.Runtime;

namespace Serving.Workers.Tests.Runtime;

/// <summary>The step loop on the simulated engine: real threads and channels, deterministic "model".</summary>
public sealed class StepLoopGenerationServiceTests : IDisposable
{
    private readonly SimulatedEngine _engine;
    private readonly TieredParkingStore _store = new(new ParkingOptions { HostCapacityBytes = 16 << 20, PageBytes = 64 << 10 });
    private readonly StepLoopGenerationService _service;
    private readonly WorkerMetrics _metrics = new();

    private int Slots { get; }

    public StepLoopGenerationServiceTests() : this(slots: 2)
    {
    }

    private StepLoopGenerationServiceTests(int slots)
    {
        Slots = slots;
        _engine = new SimulatedEngine(slots: slots, contextPerSlot: 1024);
        var scheduler = AgentSchedulerFactory.Create(new SchedulerOptions(), new EngineShape(slots, 1024, 512), TimeProvider.System);
        _service = new StepLoopGenerationService(_engine, scheduler, _store, _metrics, TimeProvider.System);
        _service.Start();
    }

    private GenerationRequest Request(string prompt, int maxTokens = 10, string? session = null, IReadOnlyList<string>? stop = null) =>
        new(Guid.NewGuid().ToString("N"), session, _engine.Tokenize(prompt, true), maxTokens, SamplingOptions.Greedy, stop ?? [], false, null, null);

    private async Task<(string Text, CompletedEvent Done)> RunAsync(GenerationRequest request, CancellationToken ct = default)
    {
        var text = "";
        CompletedEvent? done = null;
        await foreach (var e in _service.GenerateAsync(request, null, ct).WithCancellation(ct))
        {
            if (e is TokenEvent t) text += t.Text;
            if (e is CompletedEvent c) done = c;
        }

        return (text, done!);
    }

    [Fact]
    public async Task Generate_MaxTokens_FinishesWithLengthAfterExactlyThatMany()
    {
        var (text, done) = await RunAsync(Request("hello", maxTokens: 12)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((FinishReason.Length, 12, 12), (done.Reason, done.CompletionTokens, text.Length));
    }

    [Fact]
    public async Task Generate_StopString_IsNeverEmitted()
    {
        var (free, _) = await RunAsync(Request("stop test", maxTokens: 200)).WaitAsync(TimeSpan.FromSeconds(30));
        var stop = free.Substring(5, 2);
        var (text, done) = await RunAsync(Request("stop test", maxTokens: 200, stop: [stop])).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FinishReason.Stop, done.Reason);
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], text);
    }

    [Fact]
    public async Task Generate_PromptPlusMaxTokensBeyondContext_RejectedBeforeAnyToken()
    {
        var e = await Assert.ThrowsAsync<GenerationRejectedException>(() => RunAsync(Request(new string('x', 1000), maxTokens: 100)));
        Assert.Equal(("context_length_exceeded", 400), (e.Code, e.StatusCode));
        Assert.Contains("maximum context length is 1024 tokens", e.Message);
    }

    [Fact]
    public async Task Generate_SecondTurnOfSession_ReusesTheResidentPrefixAndMatchesAFreshRun()
    {
        var (first, _) = await RunAsync(Request("turn one", maxTokens: 8, session: "t:s")).WaitAsync(TimeSpan.FromSeconds(30));
        var next = "turn one" + first + " tool says ok";
        var (second, done) = await RunAsync(Request(next, maxTokens: 8, session: "t:s")).WaitAsync(TimeSpan.FromSeconds(30));
        var (fresh, freshDone) = await RunAsync(Request(next, maxTokens: 8)).WaitAsync(TimeSpan.FromSeconds(30));

        // BOS + "turn one" + the 7 fed-back generated tokens are cached (the 8th was sampled, never fed).
        Assert.Equal(1 + 8 + 7, done.CachedTokens);
        Assert.Equal(0, freshDone.CachedTokens);
        Assert.Equal(fresh, second);
        Assert.Equal(1, _metrics.Restores.WithLabels("hit").Value);
    }

    [Fact]
    public async Task Generate_SlotTakenDuringThePause_SessionIsParkedThenRestoredExactly()
    {
        using var single = new StepLoopGenerationServiceTests(slots: 1);
        var (first, _) = await single.RunAsync(single.Request("park me", maxTokens: 8, session: "t:p")).WaitAsync(TimeSpan.FromSeconds(30));
        await single.RunAsync(single.Request("someone else", maxTokens: 4)).WaitAsync(TimeSpan.FromSeconds(30)); // takes the only slot
        var next = "park me" + first + " result";
        var (second, done) = await single.RunAsync(single.Request(next, maxTokens: 8, session: "t:p")).WaitAsync(TimeSpan.FromSeconds(30));
        var (fresh, _) = await single.RunAsync(single.Request(next, maxTokens: 8)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, single.Slots);
        Assert.Equal(1 + 7 + 7, done.CachedTokens);
        Assert.Equal(fresh, second);
        // Parked twice: for "someone else" and again for the fresh run; restored once, for its second turn.
        Assert.Equal(2, single._metrics.Parks.WithLabels("ok").Value);
        Assert.Equal(1, single._metrics.Restores.WithLabels("restored").Value);
    }

    [Fact]
    public async Task Generate_ClientCancels_TurnStopsAndItsSlotServesOthers()
    {
        using var cts = new CancellationTokenSource();
        var tokens = 0;
        var cancelled = await Record.ExceptionAsync(async () =>
        {
            await foreach (var e in _service.GenerateAsync(Request("long one", maxTokens: 900, session: "t:a"), null, cts.Token).WithCancellation(cts.Token))
            {
                if (e is TokenEvent && ++tokens == 3) cts.Cancel();
            }
        });
        Assert.IsAssignableFrom<OperationCanceledException>(cancelled);

        // Two slots: both must be usable again, so two concurrent turns finish.
        var results = await Task.WhenAll(RunAsync(Request("b", 5)), RunAsync(Request("c", 5))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(results, r => Assert.Equal(FinishReason.Length, r.Done.Reason));
    }

    public void Dispose()
    {
        _service.Dispose();
        _store.Dispose();
    }
}
