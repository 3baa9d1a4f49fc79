using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Serving.Cache.Parking;
using Serving.Scheduler.Contracts;
using Serving.Workers.Engine;
using Serving.Workers.Metrics;
using Serving.Workers.Native;

namespace Serving.Workers.Runtime;

/// <summary>
/// The worker's step loop. One dedicated thread owns the engine, the scheduler and the parking store; request
/// threads talk to it only through a bounded command channel and read their tokens from per-request channels.
/// Each iteration is a short sequence of named phases: drain commands → plan → memory ops → decode → sample →
/// complete → publish.
/// </summary>
public sealed partial class StepLoopGenerationService : IGenerationService, IDisposable
{
    private abstract record Command;
    private sealed record SubmitCommand(ActiveRequest Request) : Command;
    private sealed record CancelCommand(string RequestId) : Command;
    private sealed record EndSessionCommand(string SessionKey) : Command;

    private readonly IInferenceEngine _engine;
    private readonly IAgentScheduler _scheduler;
    private readonly IParkingStore _store;
    private readonly WorkerMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly Channel<Command> _submits;
    /// <summary>Cancels and session ends must never be refused, so they have their own unbounded channel.</summary>
    private readonly Channel<Command> _controls = Channel.CreateUnbounded<Command>();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Dictionary<string, ActiveRequest> _active = new(StringComparer.Ordinal);
    /// <summary>
    /// When each session's last turn ended here: the next turn's arrival gives the tool pause, and a later turn with
    /// nothing cached was a recompute. Entries older than the scheduler's idle timeout are pruned (the scheduler has
    /// forgotten those sessions too).
    /// </summary>
    private readonly Dictionary<string, DateTimeOffset> _lastTurnEnd = new(StringComparer.Ordinal);
    private DateTimeOffset _nextPrune;
    private readonly NativeBuffer _staging;
    private readonly float[] _logits;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private volatile WorkerStats _stats;

    public StepLoopGenerationService(IInferenceEngine engine, IAgentScheduler scheduler, IParkingStore store, WorkerMetrics metrics, TimeProvider time, int queueCapacity = 1024)
    {
        _engine = engine;
        _scheduler = scheduler;
        _store = store;
        _metrics = metrics;
        _time = time;
        _submits = Channel.CreateBounded<Command>(new BoundedChannelOptions(queueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        _staging = new NativeBuffer(Math.Max(1 << 20, engine.Info.ContextPerSlot * engine.Info.KvBytesPerToken + (1 << 20)));
        _logits = new float[engine.Info.VocabSize];
        _stats = BuildStats(scheduler.Snapshot());
        _thread = new Thread(Run) { Name = "engine-step-loop", IsBackground = true };
    }

    /// <summary>Set when the loop died on an unexpected exception; health checks report it.</summary>
    public Exception? Fault { get; private set; }

    public void Start() => _thread.Start();

    public async IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        // Limits (context length, queue bounds) are the scheduler's to check: its refusal arrives as the first event.
        if (Fault is not null || _stopping)
        {
            throw new GenerationRejectedException("server_unavailable", "The worker's engine is not running.", 503);
        }

        var active = new ActiveRequest(request, request.SessionKey ?? "oneshot:" + request.RequestId, _time.GetUtcNow());
        if (!_submits.Writer.TryWrite(new SubmitCommand(active)))
        {
            throw new GenerationRejectedException("server_busy", "The worker's request queue is full. Retry later.", 503);
        }

        _wake.Release();
        using var registration = ct.Register(() => Control(new CancelCommand(request.RequestId)));
        await foreach (var e in active.Events.Reader.ReadAllAsync(CancellationToken.None))
        {
            if (e is RejectedEvent rejected)
            {
                throw rejected.Exception;
            }

            // The caller cancelled: the loop has freed the turn; surface it the .NET way.
            ct.ThrowIfCancellationRequested();

            yield return e;
            if (e is CompletedEvent)
            {
                yield break;
            }
        }
    }

    public void EndSession(string sessionKey) => Control(new EndSessionCommand(sessionKey));

    public WorkerStats GetStats() => _stats;

    public void Dispose()
    {
        _stopping = true;
        _wake.Release();
        if (_thread.IsAlive)
        {
            _thread.Join(TimeSpan.FromSeconds(10));
        }

        _staging.Dispose();
    }

    private void Control(Command command)
    {
        _controls.Writer.TryWrite(command);
        _wake.Release();
    }

    /// <summary>An internal event: the scheduler refused the turn before it produced anything.</summary>
    private sealed record RejectedEvent(GenerationRejectedException Exception) : GenerationEvent;

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                DrainCommands();
                var plan = _scheduler.PlanStep();
                if (plan.IsEmpty)
                {
                    PublishStats();
                    PruneSessions();
                    // Nothing to run: sleep until a command arrives, waking now and then for time-based policies.
                    _wake.Wait(TimeSpan.FromMilliseconds(50));
                    continue;
                }

                RunStep(plan);
            }
        }
        catch (Exception e)
        {
            Fault = e;
            Console.Error.WriteLine($"engine step loop failed: {e}");
        }
        finally
        {
            FailAll(Fault is null ? "The worker is shutting down." : "The worker's engine failed.");
        }
    }

    private void RunStep(BatchPlan plan)
    {
        var started = Stopwatch.GetTimestamp();
        var memoryResults = plan.MemoryOps.Select(ExecuteMemoryOp).ToList();
        var status = plan.Chunks.Count == 0 ? DecodeStatus.Ok : _engine.Decode(plan.Chunks.Select(c => new SequenceChunk(c.Slot, c.StartPosition, c.Tokens, c.WantLogits)).ToList());
        var progress = status == DecodeStatus.Ok ? SampleAndPublish(plan) : [];
        var elapsed = Stopwatch.GetElapsedTime(started);
        _scheduler.Complete(plan, new StepResult(progress, memoryResults, elapsed, status != DecodeStatus.Ok));
        if (status != DecodeStatus.Ok)
        {
            FailChunks(plan, $"The engine rejected the batch ({status}).");
        }

        _metrics.StepTokens.Observe(plan.Chunks.Sum(c => c.Tokens.Length));
        PublishStats();
    }

    private void DrainCommands()
    {
        while (_controls.Reader.TryRead(out var control))
        {
            Handle(control);
        }

        while (_submits.Reader.TryRead(out var submit))
        {
            Handle(submit);
        }
    }

    private void Handle(Command command)
    {
        switch (command)
        {
            case SubmitCommand { Request: var request }:
                Submit(request);
                break;
            case CancelCommand { RequestId: var id } when _active.Remove(id, out var request):
                _scheduler.Cancel(id);
                Finish(request, FinishReason.Cancelled);
                break;
            case EndSessionCommand { SessionKey: var key }:
                foreach (var request in _active.Values.Where(r => r.SessionKey == key).ToList())
                {
                    _active.Remove(request.Request.RequestId);
                    Finish(request, FinishReason.Cancelled);
                }

                _scheduler.EndSession(key);
                _lastTurnEnd.Remove(key);
                break;
        }
    }

    private void Submit(ActiveRequest request)
    {
        var r = request.Request;
        var result = _scheduler.Submit(new TurnRequest(r.RequestId, request.SessionKey, r.PromptTokens, r.MaxTokens, r.IsFinal || r.SessionKey is null, r.ExpectedToolMs, r.PrefixScope));
        if (result.Outcome != SubmitOutcome.Accepted)
        {
            var (code, status) = result.Outcome switch
            {
                SubmitOutcome.ContextTooLong => ("context_length_exceeded", 400),
                SubmitOutcome.SessionBusy => ("session_busy", 409),
                _ => ("server_busy", 503),
            };
            request.Events.Writer.TryWrite(new RejectedEvent(new GenerationRejectedException(code, result.Message ?? code, status)));
            return;
        }

        if (_lastTurnEnd.TryGetValue(request.SessionKey, out var pauseStart))
        {
            _metrics.ToolPause.Observe((request.Arrival - pauseStart).TotalSeconds);
        }

        _active[r.RequestId] = request;
        _metrics.PromptTokens.Inc(r.PromptTokens.Length);
    }

    private void FailChunks(BatchPlan plan, string message)
    {
        foreach (var chunk in plan.Chunks)
        {
            if (_active.Remove(chunk.RequestId, out var request))
            {
                Finish(request, FinishReason.Error);
            }
        }

        Console.Error.WriteLine(message);
    }

    private void FailAll(string message)
    {
        foreach (var request in _active.Values.ToList())
        {
            Finish(request, FinishReason.Error);
        }

        _active.Clear();
        while (_submits.Reader.TryRead(out var command))
        {
            if (command is SubmitCommand { Request: var r })
            {
                r.Events.Writer.TryWrite(new RejectedEvent(new GenerationRejectedException("server_unavailable", message, 503)));
            }
        }
    }

    private void PruneSessions()
    {
        var now = _time.GetUtcNow();
        if (now < _nextPrune)
        {
            return;
        }

        _nextPrune = now + TimeSpan.FromMinutes(1);
        var cutoff = now - new Serving.Scheduler.SchedulerOptions().SessionIdleTimeout;
        foreach (var (key, ended) in _lastTurnEnd.Where(e => e.Value < cutoff).ToList())
        {
            _lastTurnEnd.Remove(key);
        }
    }

    private void PublishStats()
    {
        var snapshot = _scheduler.Snapshot();
        _stats = BuildStats(snapshot);
        _metrics.RequestsRunning.Set(_stats.RunningRequests);
        _metrics.RequestsWaiting.Set(_stats.WaitingRequests);
        _metrics.KvCacheUsage.Set(_stats.KvCacheUsage);
        _metrics.SessionsParked.Set(_stats.ParkedSessions);
        _metrics.SessionsResident.Set(_stats.ResidentSessions);
        _metrics.Preemptions.IncTo(snapshot.Counters.Preemptions);
    }

    private WorkerStats BuildStats(SchedulerSnapshot s) =>
        new(s.RunningTurns, s.WaitingTurns, s.ResidentSessions, s.ParkedSessions, s.KvUsage, _engine.Info.SlotCount, s.FreeSlots);
}
