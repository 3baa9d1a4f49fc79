using System.Diagnostics;
using Serving.Cache.Parking;
using Serving.Scheduler.Contracts;
using Serving.Workers.Protocol;

namespace Serving.Workers.Runtime;

public sealed partial class StepLoopGenerationService
{
    /// <summary>Runs one memory op on the engine and the parking store; never throws for a lost or damaged entry.</summary>
    private MemoryOpResult ExecuteMemoryOp(MemoryOp op)
    {
        var started = Stopwatch.GetTimestamp();
        switch (op)
        {
            case ParkOp park:
            {
                var size = _engine.SequenceStateSize(park.Slot);
                _staging.EnsureCapacity(size);
                var span = _staging.Span(size);
                var written = _engine.SaveSequence(park.Slot, span);
                var stored = written > 0 && _store.TryStore(park.EntryId, span[..(int)written]);
                _engine.Truncate(park.Slot, 0);
                var elapsed = Stopwatch.GetElapsedTime(started);
                _metrics.Parks.WithLabels(stored ? "ok" : "failed").Inc();
                _metrics.ParkSeconds.Observe(elapsed.TotalSeconds);
                return new MemoryOpResult(op, stored, elapsed, written);
            }

            case RestoreOp restore:
            {
                var size = _store.SizeOf(restore.EntryId);
                var ok = false;
                if (size > 0)
                {
                    _staging.EnsureCapacity(size);
                    var span = _staging.Span(size);
                    // A checksum mismatch or a lost spill file reads as failure: the scheduler recomputes instead.
                    ok = _store.TryRead(restore.EntryId, span) == ParkedReadResult.Ok && _engine.LoadSequence(restore.Slot, span);
                }

                _store.Remove(restore.EntryId);
                if (!ok)
                {
                    _engine.Truncate(restore.Slot, 0);
                }

                MarkRestored(restore.SessionKey, ok);
                var elapsed = Stopwatch.GetElapsedTime(started);
                _metrics.RestoreSeconds.Observe(elapsed.TotalSeconds);
                return new MemoryOpResult(op, ok, elapsed, Math.Max(size, 0));
            }

            case DropOp drop:
                if (drop.Slot is { } slot)
                {
                    _engine.Truncate(slot, 0);
                }

                if (drop.EntryId is { } entry)
                {
                    _store.Remove(entry);
                }

                return new MemoryOpResult(op, true, Stopwatch.GetElapsedTime(started), 0);

            case CopyOp copy:
                _engine.CopySequence(copy.SourceSlot, copy.TargetSlot);
                return new MemoryOpResult(op, true, Stopwatch.GetElapsedTime(started), 0);

            case TruncateOp truncate:
                _engine.Truncate(truncate.Slot, truncate.KeepTokens);
                return new MemoryOpResult(op, true, Stopwatch.GetElapsedTime(started), 0);

            default:
                throw new InvalidOperationException($"unknown memory op {op}");
        }
    }

    private void MarkRestored(string sessionKey, bool ok)
    {
        foreach (var request in _active.Values)
        {
            if (request.SessionKey == sessionKey)
            {
                request.RestoredFromStore = ok;
            }
        }
    }

    /// <summary>Samples every chunk that asked for logits, streams the text, and reports progress to the scheduler.</summary>
    private List<TurnProgress> SampleAndPublish(BatchPlan plan)
    {
        var now = _time.GetUtcNow();
        var progress = new List<TurnProgress>();
        for (var i = 0; i < plan.Chunks.Count; i++)
        {
            var chunk = plan.Chunks[i];
            if (!_active.TryGetValue(chunk.RequestId, out var request))
            {
                continue;
            }

            if (request.FirstScheduled is null)
            {
                request.FirstScheduled = now;
                request.CachedTokens = chunk.StartPosition;
                _metrics.QueueTime.Observe((now - request.Arrival).TotalSeconds);
                _metrics.CachedPromptTokens.Inc(chunk.StartPosition);
                var result = chunk.StartPosition > 0 ? (request.RestoredFromStore ? "restored" : "hit") : "recompute";
                if (request.Request.SessionKey is not null && (chunk.StartPosition > 0 || _lastTurnEnd.ContainsKey(request.SessionKey)))
                {
                    _metrics.Restores.WithLabels(result).Inc();
                }
            }

            if (!chunk.WantLogits)
            {
                continue;
            }

            _engine.CopyLogits(i, _logits);
            var token = request.Sampler.Sample(_logits);
            progress.Add(Advance(request, token, now));
        }

        return progress;
    }

    /// <summary>Applies one sampled token: end of generation, text and stop strings, the token budget, tool calls.</summary>
    private TurnProgress Advance(ActiveRequest request, int token, DateTimeOffset now)
    {
        var id = request.Request.RequestId;
        if (_engine.IsEndOfGeneration(token))
        {
            return Complete(request, FinishReason.Stop, token);
        }

        request.Generated++;
        _metrics.GenerationTokens.Inc();
        if (request.LastTokenAt is { } last)
        {
            _metrics.InterToken.Observe((now - last).TotalSeconds);
        }
        else
        {
            _metrics.Ttft.Observe((now - request.Arrival).TotalSeconds);
        }

        request.LastTokenAt = now;
        var delta = request.Text.Append(_engine.TokenBytes(token));
        request.Events.Writer.TryWrite(new TokenEvent(token, delta));
        if (request.Text.StopHit)
        {
            return Complete(request, FinishReason.Stop, token);
        }

        return request.Generated >= request.Request.MaxTokens
            ? Complete(request, FinishReason.Length, token)
            : new TurnProgress(id, token, TurnState.Running);
    }

    private TurnProgress Complete(ActiveRequest request, FinishReason reason, int token)
    {
        string? tool = null;
        if (request.Request.ToolsOffered)
        {
            var (_, calls) = ToolCallFormat.Parse(request.Text.Text);
            if (calls.Count > 0)
            {
                reason = FinishReason.ToolCalls;
                tool = calls[0].Name;
            }
        }

        _active.Remove(request.Request.RequestId);
        Finish(request, reason);
        if (!request.Request.IsFinal && request.Request.SessionKey is not null)
        {
            _lastTurnEnd[request.SessionKey] = _time.GetUtcNow();
        }

        return new TurnProgress(request.Request.RequestId, token, TurnState.Finished, reason == FinishReason.ToolCalls, tool);
    }

    /// <summary>Sends the last event; the request's reader then ends.</summary>
    private void Finish(ActiveRequest request, FinishReason reason)
    {
        if (request.Finished)
        {
            return;
        }

        request.Finished = true;
        var rest = request.Text.Flush();
        if (rest.Length > 0)
        {
            request.Events.Writer.TryWrite(new TokenEvent(-1, rest));
        }

        request.Events.Writer.TryWrite(new CompletedEvent(reason, request.Request.PromptTokens.Length, request.CachedTokens ?? 0, request.Generated));
        request.Events.Writer.TryComplete();
        _metrics.RequestSuccess.WithLabels(reason.ToString().ToLowerInvariant()).Inc();
        _metrics.E2e.Observe((_time.GetUtcNow() - request.Arrival).TotalSeconds);
    }
}
