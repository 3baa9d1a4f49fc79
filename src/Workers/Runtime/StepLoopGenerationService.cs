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
/// <para>
/// Faults: a problem that belongs to one turn (its sampling, its text, a memory op of its session, a chunk the engine
/// refuses even alone) fails that turn with <c>server_error</c> and the loop goes on. Anything else leaves state that
/// cannot be trusted: the loop stops, every turn fails, <see cref="Fault"/> is set and <c>/health</c> answers 503, so the
/// gateway restarts the process.
/// </para>
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
    /// <summary>Wakes the idle loop. Not a SemaphoreSlim: that spins before it blocks, on cores llama.cpp needs.</summary>
    private readonly AutoResetEvent _wake = new(false);
    private readonly Dictionary<string, ActiveRequest> _active = new(StringComparer.Ordinal);
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
        (_phasePlan, _phaseMemory, _phaseDecode, _phaseSample, _phaseComplete) = (metrics.EnginePhase.WithLabels("plan"),
            metrics.EnginePhase.WithLabels("memory"), metrics.EnginePhase.WithLabels("decode"), metrics.EnginePhase.WithLabels("sample"), metrics.EnginePhase.WithLabels("complete"));
    }

    private readonly Prometheus.Counter.Child _phasePlan, _phaseMemory, _phaseDecode, _phaseSample, _phaseComplete;

    /// <summary>Set when the loop died on an unexpected exception; health checks report it.</summary>
    public Exception? Fault { get; private set; }

    public void Start() => _thread.Start();

    public async IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, ITokenConstraint? constraint, [EnumeratorCancellation] CancellationToken ct)
    {
        // Limits (context length, queue bounds) are the scheduler's to check: its refusal arrives as the first event.
        var active = new ActiveRequest(request, request.SessionKey ?? "oneshot:" + request.RequestId, _time.GetUtcNow()) { Constraint = constraint };
        if (!_submits.Writer.TryWrite(new SubmitCommand(active)))
        {
            constraint?.Dispose(); // never reaches the engine thread
            // Full, or completed because the loop has stopped (nothing written after that is ever read).
            throw Fault is not null || _stopping
                ? new GenerationRejectedException("server_unavailable", "The worker's engine is not running.", 503)
                : new GenerationRejectedException("server_busy", "The worker's request queue is full. Retry later.", 503);
        }

        _wake.Set();
        using var registration = ct.Register(() =>
        {
            active.CancelRequested = true;
            Control(new CancelCommand(request.RequestId));
        });
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
        _wake.Set();
        if (_thread.IsAlive)
        {
            _thread.Join(TimeSpan.FromSeconds(10));
        }

        _staging.Dispose();
        // _wake stays undisposed: a request's cancellation may still signal it after the loop stopped.
    }

    private void Control(Command command)
    {
        _controls.Writer.TryWrite(command);
        _wake.Set();
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
                var planning = Stopwatch.GetTimestamp();
                var plan = _scheduler.PlanStep();
                _phasePlan.Inc(Stopwatch.GetElapsedTime(planning).TotalSeconds);
                if (plan.IsEmpty)
                {
                    PublishStats();
                    // Nothing to run: sleep until a command arrives, waking now and then for time-based policies.
                    _wake.WaitOne(TimeSpan.FromMilliseconds(50));
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
            FailAll(Fault is null ? "The worker is shutting down." : "The worker's engine failed; the worker restarts. Retry the request.");
        }
    }

    private void RunStep(BatchPlan plan)
    {
        var started = Stopwatch.GetTimestamp();
        MarkScheduled(plan);
        var failedSlots = new HashSet<int>();
        var memoryResults = plan.MemoryOps.Select(op => ExecuteMemoryOp(op, failedSlots)).ToList();
        _phaseMemory.Inc(Stopwatch.GetElapsedTime(started).TotalSeconds);
        var progress = new List<TurnProgress>();
        var failed = new List<string>();
        // A chunk whose slot just failed a memory op would start at the wrong position: the scheduler plans it again.
        var chunks = failedSlots.Count == 0 ? plan.Chunks : plan.Chunks.Where(c => !failedSlots.Contains(c.Slot)).ToList();
        if (chunks.Count > 0)
        {
            DecodeAndSample(chunks, progress, failed);
        }

        var completing = Stopwatch.GetTimestamp();
        _scheduler.Complete(plan, new StepResult(progress, memoryResults, Stopwatch.GetElapsedTime(started), failed));
        foreach (var id in failed)
        {
            FailTurn(id, TurnError.ServerError("The engine could not compute this request's tokens; its session's cache was reset. Retry the request."));
        }

        _metrics.StepTokens.Observe(plan.Chunks.Sum(c => c.Tokens.Length));
        if (plan.Chunks.Count(c => c.IsDecode) is var decodes and > 0)
        {
            _metrics.DecodeBatch.Observe(decodes);
        }

        PublishStats();
        _phaseComplete.Inc(Stopwatch.GetElapsedTime(completing).TotalSeconds);
    }

    /// <summary>Queue time ends when a turn's first chunk is planned (not when its first token exists).</summary>
    private void MarkScheduled(BatchPlan plan)
    {
        var now = _time.GetUtcNow();
        foreach (var chunk in plan.Chunks)
        {
            if (_active.TryGetValue(chunk.RequestId, out var request) && request.FirstScheduled is null)
            {
                request.FirstScheduled = now;
                _metrics.QueueTime.Observe((now - request.Arrival).TotalSeconds);
            }
        }
    }

    /// <summary>
    /// One engine call for the chunks, sampled right after it. A batch the engine refuses (no KV room is transient) is
    /// split in halves and retried, so one bad chunk fails only its own turn.
    /// </summary>
    private void DecodeAndSample(IReadOnlyList<PlannedChunk> chunks, List<TurnProgress> progress, List<string> failed)
    {
        var decoding = Stopwatch.GetTimestamp();
        var status = _engine.Decode(chunks.Select(c => new SequenceChunk(c.Slot, c.StartPosition, c.Tokens, c.WantLogits)).ToList());
        var sampling = Stopwatch.GetTimestamp();
        _phaseDecode.Inc(Stopwatch.GetElapsedTime(decoding, sampling).TotalSeconds);
        if (status == DecodeStatus.Ok)
        {
            SampleAndPublish(chunks, progress);
            _phaseSample.Inc(Stopwatch.GetElapsedTime(sampling).TotalSeconds);
            return;
        }

        if (chunks.Count == 1)
        {
            Console.Error.WriteLine($"the engine refused a chunk of request {chunks[0].RequestId} ({status})");
            failed.Add(chunks[0].RequestId);
            return;
        }

        var half = chunks.Count / 2;
        DecodeAndSample(chunks.Take(half).ToList(), progress, failed);
        DecodeAndSample(chunks.Skip(half).ToList(), progress, failed);
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
                break;
        }
    }

    private void Submit(ActiveRequest request)
    {
        if (request.CancelRequested)
        {
            // Its client left before the loop saw it: never start it (the cancel command found nothing to stop).
            Finish(request, FinishReason.Cancelled);
            return;
        }

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
            request.Constraint?.Dispose();
            return;
        }

        if (result.EndedPause is { } pause)
        {
            request.Returning = true;
            _metrics.ToolPause.Observe(pause.TotalSeconds);
        }

        _active[r.RequestId] = request;
        _metrics.PromptTokens.Inc(r.PromptTokens.Length);
    }

    /// <summary>Ends one turn with an error; the scheduler has already been told (or is told by the caller).</summary>
    private void FailTurn(string requestId, TurnError error)
    {
        if (_active.Remove(requestId, out var request))
        {
            Finish(request, FinishReason.Error, error);
        }
    }

    /// <summary>
    /// The loop has stopped: every turn fails, and so does every submit, queued now or later — the channel is completed
    /// first, so a submit racing this either is drained here or is refused by the writer.
    /// </summary>
    private void FailAll(string message)
    {
        _submits.Writer.TryComplete();
        var error = TurnError.Unavailable(message);
        foreach (var request in _active.Values.ToList())
        {
            Finish(request, FinishReason.Error, error);
        }

        _active.Clear();
        while (_submits.Reader.TryRead(out var command))
        {
            if (command is SubmitCommand { Request: var r })
            {
                r.Events.Writer.TryWrite(new RejectedEvent(new GenerationRejectedException(error.Code, message, error.Status)));
            }
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
        _metrics.Sessions.Set(snapshot.Sessions);
        _metrics.AdmissionWindow.Set(snapshot.AdmissionWindow);
        _metrics.EngineCostScale.WithLabels("decode").Set(snapshot.CostScales.Decode);
        _metrics.EngineCostScale.WithLabels("prefill").Set(snapshot.CostScales.Prefill);
        _metrics.Preemptions.IncTo(snapshot.Counters.Preemptions);
        _metrics.AdmissionRejections.IncTo(snapshot.Counters.Rejections);
    }

    private WorkerStats BuildStats(SchedulerSnapshot s) =>
        new(s.RunningTurns, s.WaitingTurns, s.ResidentSessions, s.ParkedSessions, s.KvUsage, _engine.Info.SlotCount, s.FreeSlots);
}
