using System.Diagnostics;
using Serving.Cache.Parking;
using Serving.Scheduler.Contracts;
using Serving.Workers.Protocol;

namespace Serving.Workers.Runtime;

public sealed partial class StepLoopGenerationService
{
    /// <summary>
    /// Runs one memory op on the engine and the parking store. One session's problem (a lost, damaged or unstorable
    /// entry, a refused truncate or copy, an exception in a parking tier) fails only that op, and its slot is left
    /// empty, as the scheduler expects of a failed op. A copy from a slot whose op failed in this step fails too.
    /// Only the engine failing to empty a slot escapes: then nothing about the KV can be trusted.
    /// </summary>
    private MemoryOpResult ExecuteMemoryOp(MemoryOp op, HashSet<int> failedSlots)
    {
        var started = Stopwatch.GetTimestamp();
        bool ok;
        long bytes = 0;
        try
        {
            (ok, bytes) = RunMemoryOp(op, failedSlots);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"memory op {op.GetType().Name} for a session failed: {e.Message}");
            ok = false;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        if (!ok && op.AffectedSlot is { } slot)
        {
            failedSlots.Add(slot);
            _engine.Truncate(slot, 0);
        }

        switch (op)
        {
            case ParkOp:
                _metrics.Parks.WithLabels(ok ? "ok" : "failed").Inc();
                _metrics.ParkSeconds.Observe(elapsed.TotalSeconds);
                break;
            case RestoreOp restore:
                MarkRestored(restore.SessionKey, ok);
                _metrics.RestoreSeconds.Observe(elapsed.TotalSeconds);
                break;
        }

        return new MemoryOpResult(op, ok, elapsed, bytes);
    }

    private (bool Ok, long Bytes) RunMemoryOp(MemoryOp op, HashSet<int> failedSlots)
    {
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
                return (stored, written);
            }

            case RestoreOp restore:
            {
                var size = _store.SizeOf(restore.EntryId);
                try
                {
                    if (size <= 0)
                    {
                        return (false, 0);
                    }

                    _staging.EnsureCapacity(size);
                    var span = _staging.Span(size);
                    // A checksum mismatch or a lost spill file reads as failure: the scheduler recomputes instead.
                    var ok = _store.TryRead(restore.EntryId, span) == ParkedReadResult.Ok && _engine.LoadSequence(restore.Slot, span);
                    return (ok, size);
                }
                finally
                {
                    _store.Remove(restore.EntryId);
                }
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

                return (true, 0);

            case CopyOp copy:
                if (failedSlots.Contains(copy.SourceSlot))
                {
                    return (false, 0);
                }

                _engine.CopySequence(copy.SourceSlot, copy.TargetSlot);
                return (true, 0);

            case TruncateOp truncate:
                _engine.Truncate(truncate.Slot, truncate.KeepTokens);
                return (true, 0);

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

    /// <summary>
    /// Samples every chunk of the decode just run that asked for logits, streams the text, and reports progress to
    /// the scheduler. A fault in one turn's sampling or text fails that turn only.
    /// </summary>
    private void SampleAndPublish(IReadOnlyList<PlannedChunk> chunks, List<TurnProgress> progress)
    {
        var now = _time.GetUtcNow();
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            if (!_active.TryGetValue(chunk.RequestId, out var request))
            {
                continue;
            }

            if (request.CachedTokens is null)
            {
                request.CachedTokens = chunk.StartPosition;
                _metrics.CachedPromptTokens.Inc(chunk.StartPosition);
                var result = chunk.StartPosition > 0 ? (request.RestoredFromStore ? "restored" : "hit") : "recompute";
                if (request.Request.SessionKey is not null && (chunk.StartPosition > 0 || request.Returning))
                {
                    _metrics.Restores.WithLabels(result).Inc();
                }
            }

            if (!chunk.WantLogits)
            {
                continue;
            }

            try
            {
                _engine.CopyLogits(i, _logits);
                var token = request.Constraint is { } constraint
                    ? ConstrainedSampler.Sample(request.Sampler, constraint, _logits, _engine.IsEndOfGeneration)
                    : request.Sampler.Sample(_logits);

                progress.Add(Advance(request, token, now));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Console.Error.WriteLine($"request {chunk.RequestId} failed while sampling: {e}");
                _active.Remove(chunk.RequestId);
                Finish(request, FinishReason.Error, TurnError.ServerError($"The worker failed while generating this response ({e.GetType().Name}: {e.Message})."));
                progress.Add(new TurnProgress(chunk.RequestId, null, TurnState.Finished));
            }
        }
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
        if (request.Request.ToolCalls is { } reader)
        {
            var calls = reader.Read(request.Text.Text, final: true).Calls;
            if (calls.Count > 0)
            {
                reason = FinishReason.ToolCalls;
                tool = calls[0].Name;
            }
        }

        _active.Remove(request.Request.RequestId);
        Finish(request, reason);
        return new TurnProgress(request.Request.RequestId, token, TurnState.Finished, reason == FinishReason.ToolCalls, tool);
    }

    /// <summary>Sends the last event; the request's reader then ends.</summary>
    private void Finish(ActiveRequest request, FinishReason reason, TurnError? error = null)
    {
        if (request.Finished)
        {
            return;
        }

        request.Finished = true;
        request.Constraint?.Dispose();
        var rest = request.Text.Flush();
        if (rest.Length > 0)
        {
            request.Events.Writer.TryWrite(new TokenEvent(-1, rest));
        }

        request.Events.Writer.TryWrite(new CompletedEvent(reason, request.Request.PromptTokens.Length, request.CachedTokens ?? 0, request.Generated, error));
        request.Events.Writer.TryComplete();
        _metrics.RequestSuccess.WithLabels(reason.ToString().ToLowerInvariant()).Inc();
        _metrics.E2e.Observe((_time.GetUtcNow() - request.Arrival).TotalSeconds);
    }
}
