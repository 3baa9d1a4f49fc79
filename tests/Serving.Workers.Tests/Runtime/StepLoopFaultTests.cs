using Serving.Cache.Parking;
using Serving.Scheduler;
using Serving.Workers.Engine;
using Serving.Workers.Metrics;
using Serving.Workers.Runtime;
using Serving.Workers.Tests.Support;

namespace Serving.Workers.Tests.Runtime;

/// <summary>
/// The step loop under faults: a problem of one turn fails that turn alone and the loop goes on; a fault of the engine
/// itself fails every turn cleanly and refuses later submits at once, never leaving a caller hanging.
/// </summary>
public sealed class StepLoopFaultTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly FaultyEngine _engine = new(new SimulatedEngine(slots: 2, contextPerSlot: 1024));
    private readonly WorkerMetrics _metrics = new();
    private readonly ThrowingStore _store = new(new TieredParkingStore(new ParkingOptions { HostCapacityBytes = 16 << 20, PageBytes = 64 << 10 }));
    private readonly StepLoopGenerationService _service;

    public StepLoopFaultTests()
    {
        var scheduler = AgentSchedulerFactory.Create(new SchedulerOptions(), new EngineShape(2, 1024, 512), TimeProvider.System);
        _service = new StepLoopGenerationService(_engine, scheduler, _store, _metrics, TimeProvider.System);
    }

    public void Dispose()
    {
        _service.Dispose();
        _store.Dispose();
    }

    private GenerationRequest Request(string prompt, int maxTokens = 8, string? session = null, float temperature = 0f) =>
        new(Guid.NewGuid().ToString("N"), session, _engine.Tokenize(prompt, true), maxTokens, new SamplingOptions(temperature, 1f, 7), [], false, null, null);

    private async Task<(string Text, CompletedEvent Done)> RunAsync(GenerationRequest request, CancellationToken ct = default)
    {
        var text = "";
        CompletedEvent? done = null;
        await foreach (var e in _service.GenerateAsync(request, null, ct))
        {
            if (e is TokenEvent t) text += t.Text;
            if (e is CompletedEvent c) done = c;
        }

        return (text, done!);
    }

    [Fact]
    public async Task TokenPiecesLongerThanAnyBuffer_AreStreamedWhole()
    {
        _service.Start();
        _engine.PieceBytes = 300;
        var (text, done) = await RunAsync(Request("long pieces", maxTokens: 3)).WaitAsync(Bound);
        Assert.Equal((FinishReason.Length, 900), (done.Reason, text.Length));
    }

    [Fact]
    public async Task NanLogitsInOneTurn_FailOnlyThatTurn_WithServerError_AndTheLoopGoesOn()
    {
        _engine.NanSlot = 0;
        var broken = RunAsync(Request("first, gets slot 0", maxTokens: 20, temperature: 0.7f));
        var healthy = RunAsync(Request("second, gets slot 1", maxTokens: 20));
        _service.Start();

        var (_, failed) = await broken.WaitAsync(Bound);
        Assert.Equal((FinishReason.Error, "server_error", 500), (failed.Reason, failed.Error!.Code, failed.Error.Status));
        Assert.Equal(FinishReason.Length, (await healthy.WaitAsync(Bound)).Done.Reason);
        _engine.NanSlot = null;
        Assert.Equal(FinishReason.Length, (await RunAsync(Request("after the fault")).WaitAsync(Bound)).Done.Reason);
        Assert.Null(_service.Fault);
    }

    [Fact]
    public async Task BatchRefusedByTheEngine_IsSplitAndRetried_EachTurnAsIfAlone()
    {
        // What each turn gives alone, from an identical engine (the simulated model is deterministic).
        var reference = new SimulatedEngine(slots: 2, contextPerSlot: 1024);
        string Alone(string prompt)
        {
            var tokens = reference.Tokenize(prompt, true);
            reference.Truncate(0, 0);
            reference.Decode([new SequenceChunk(0, 0, tokens, true)]);
            var text = new System.Text.StringBuilder();
            var logits = new float[reference.Info.VocabSize];
            for (var i = 0; i < 12; i++)
            {
                reference.CopyLogits(0, logits);
                var token = TokenSampler.ArgMax(logits);
                text.Append(System.Text.Encoding.UTF8.GetString(reference.TokenBytes(token)));
                reference.Decode([new SequenceChunk(0, reference.SequenceLength(0), [token], true)]);
            }

            return text.ToString();
        }

        // Both turns are queued before the loop starts, so they share its first step, which the engine refuses.
        _engine.RefuseMultiChunkBatches = true;
        var a = RunAsync(Request("alpha prompt", maxTokens: 12));
        var b = RunAsync(Request("beta prompt!", maxTokens: 12));
        _service.Start();
        var results = await Task.WhenAll(a, b).WaitAsync(Bound);

        Assert.Equal([Alone("alpha prompt"), Alone("beta prompt!")], results.Select(r => r.Text));
        Assert.All(results, r => Assert.Equal(FinishReason.Length, r.Done.Reason));
        Assert.True(_engine.RefusedDecodes > 0, "the two turns never shared a batch");
    }

    [Fact]
    public async Task TruncateRefusedByTheEngine_SessionRecomputes_AndAnswersAsAFreshSessionWould()
    {
        _service.Start();
        var fresh = await RunAsync(Request("shared start, then a different ending", maxTokens: 10, session: "fresh")).WaitAsync(Bound);
        await RunAsync(Request("shared start, first ending", maxTokens: 4, session: "s")).WaitAsync(Bound);

        _engine.FailPartialTruncate = true;
        var (text, done) = await RunAsync(Request("shared start, then a different ending", maxTokens: 10, session: "s")).WaitAsync(Bound);
        Assert.Equal((fresh.Text, 0), (text, done.CachedTokens));
        Assert.Null(_service.Fault);
    }

    [Fact]
    public async Task ParkingStoreThrows_ParkFails_SessionRecomputesLater()
    {
        // One slot in use by each of two sessions, then a third: someone is parked, and the store throws.
        _service.Start();
        _store.ThrowOnStore = true;
        var first = await RunAsync(Request("session a turn one", maxTokens: 4, session: "a")).WaitAsync(Bound);
        await RunAsync(Request("session b turn one", maxTokens: 4, session: "b")).WaitAsync(Bound);
        await RunAsync(Request("session c turn one", maxTokens: 4, session: "c")).WaitAsync(Bound);
        var again = await RunAsync(Request("session a turn one", maxTokens: 4, session: "fresh-a")).WaitAsync(Bound);
        Assert.Equal(first.Text, again.Text);
        Assert.Null(_service.Fault);
        Assert.True(_store.Throws > 0, "nothing was parked");
    }

    [Fact]
    public async Task ClientLeavesBeforeTheLoopSeesItsTurn_TheTurnNeverRuns()
    {
        using var leave = new CancellationTokenSource();
        var orphan = RunAsync(Request("an orphan", maxTokens: 200, session: "o"), leave.Token);
        leave.Cancel(); // the cancel command now waits ahead of the submit
        _service.Start();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => orphan.WaitAsync(Bound));
        var (_, done) = await RunAsync(Request("someone else", maxTokens: 3)).WaitAsync(Bound);
        Assert.Equal(3, done.CompletionTokens);
        Assert.Equal(3, _metrics.GenerationTokens.Value); // the orphan generated nothing
        // And its session is free for its next turn (no 409 while an orphan runs).
        Assert.Equal(FinishReason.Length, (await RunAsync(Request("an orphan, again", maxTokens: 2, session: "o")).WaitAsync(Bound)).Done.Reason);
    }

    [Fact]
    public async Task EngineFault_EveryTurnFailsCleanly_AndLaterSubmitsAreRefusedAtOnce()
    {
        _service.Start();
        _engine.ThrowOnDecode = true;
        var (_, done) = await RunAsync(Request("boom")).WaitAsync(Bound);
        Assert.Equal((FinishReason.Error, 503), (done.Reason, done.Error!.Status));
        Assert.NotNull(_service.Fault);

        // Submits racing the stop, or arriving after it: each is refused, none hangs.
        var late = Enumerable.Range(0, 50).Select(i => Task.Run(() => RunAsync(Request($"late {i}")))).ToList();
        foreach (var call in late)
        {
            var e = await Assert.ThrowsAsync<GenerationRejectedException>(() => call.WaitAsync(Bound));
            Assert.Equal(503, e.StatusCode);
        }
    }

    /// <summary>A parking store whose writes throw on demand (a disk tier's unexpected exception).</summary>
    private sealed class ThrowingStore(IParkingStore inner) : IParkingStore
    {
        public bool ThrowOnStore { get; set; }

        public int Throws { get; private set; }

        public bool TryStore(string entryId, ReadOnlySpan<byte> blob)
        {
            if (ThrowOnStore)
            {
                Throws++;
                throw new InvalidOperationException("simulated tier failure");
            }

            return inner.TryStore(entryId, blob);
        }

        public ParkedReadResult TryRead(string entryId, Span<byte> destination) => inner.TryRead(entryId, destination);

        public long SizeOf(string entryId) => inner.SizeOf(entryId);

        public void Remove(string entryId) => inner.Remove(entryId);

        public ParkingStats Stats => inner.Stats;

        public void Dispose() => inner.Dispose();
    }
}
