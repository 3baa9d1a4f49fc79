namespace Serving.Scheduler.Levels;

/// <summary>
/// The order of turns, smallest first: level (lower is served first), then continuation (0 when the session holds KV
/// to continue from), then sequence — under MLFQ the session's start, so among equals the session that started first
/// goes first (program-level first come, first served).
/// <para>
/// Why the session's start and not the turn's size or the session's attained service: in the simulation of one
/// loaded worker (<c>simulate --workers 1 --sessions 300</c>, README) ordering by session start gave the lowest mean
/// and p95 session completion; shortest-remaining-prefill-first and least-attained-service-first (Autellix PLAS)
/// both did worse, because agent sessions of a few turns have an increasing hazard of ending — a session that has
/// run long is close to done, so finishing it first shortens the mean, unlike the heavy-tailed programs PLAS targets.
/// </para>
/// </summary>
public readonly record struct TurnPriority(int Level, int Continuation, long Sequence) : IComparable<TurnPriority>
{
    public int CompareTo(TurnPriority other)
    {
        var c = Level.CompareTo(other.Level);
        if (c != 0) return c;
        c = Continuation.CompareTo(other.Continuation);
        return c != 0 ? c : Sequence.CompareTo(other.Sequence);
    }
}
