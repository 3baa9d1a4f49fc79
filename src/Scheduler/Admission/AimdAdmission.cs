namespace Serving.Scheduler.Admission;

/// <summary>
/// Additive-increase / multiplicative-decrease window over whole sessions (MARS §1.5): every interval the window
/// shrinks ×0.7 (to a floor) while KV use is above the high mark (until it falls below the low mark) or the queue
/// is overloaded, and grows by one when healthy. Pure: time is passed in.
/// </summary>
public sealed class AimdAdmission(AdmissionOptions options, DateTimeOffset start)
{
    private DateTimeOffset _nextTick = start + options.Interval;
    private bool _kvOverloaded;

    public int Window { get; private set; } = options.InitialWindow;

    public bool Overloaded { get; private set; }

    /// <summary>Applies every interval boundary passed since the last call (no timers: called from PlanStep).</summary>
    public void Tick(DateTimeOffset now, double kvUsage, bool queueOverloaded)
    {
        // After a long idle gap, catching up tick by tick would only replay "healthy"; cap the work.
        if (now - _nextTick > options.Interval * 1000)
        {
            _nextTick = now - options.Interval * 1000;
        }

        while (now >= _nextTick)
        {
            _nextTick += options.Interval;
            _kvOverloaded = _kvOverloaded ? kvUsage >= options.KvLow : kvUsage > options.KvHigh;
            Overloaded = _kvOverloaded || queueOverloaded;
            Window = Overloaded
                ? Math.Max(options.MinWindow, (int)Math.Floor(Window * options.DecreaseFactor))
                : Math.Min(options.MaxWindow, Window + 1);
        }
    }
}
