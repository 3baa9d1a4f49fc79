namespace Serving.Scheduler.Pauses;

public enum PauseAction { Keep, Park, Drop }

/// <summary>The decision for a session whose turn just ended. Keep may carry a deadline after which <see cref="IPausePolicy.AfterDeadline"/> applies.</summary>
public sealed record PauseDecision(PauseAction Action, DateTimeOffset? KeepUntil = null);

/// <summary>What a policy may look at when a pause starts.</summary>
/// <param name="Tokens">KV tokens the session holds.</param>
/// <param name="PredictedPause">Expected pause length (client hint, else per-tool history, else a default).</param>
/// <param name="SlotPressure">Turns are waiting for a slot right now.</param>
/// <param name="KvUsage">Share of KV blocks in use (0–1); admission shrinks its window when this runs high.</param>
public sealed record PauseContext(int Tokens, TimeSpan PredictedPause, bool SlotPressure, DateTimeOffset Now, double KvUsage = 0);

/// <summary>
/// What happens to a session's KV during a tool pause. Policies are named strategies (see <see cref="PausePolicies"/>);
/// the scheduler applies their decisions, so a policy is a few pure functions.
/// </summary>
public interface IPausePolicy
{
    string Name { get; }

    PauseDecision OnPauseStart(PauseContext context);

    /// <summary>What to do with a kept session once its keep deadline has passed.</summary>
    PauseAction AfterDeadline { get; }

    /// <summary>What to do with a kept session whose slot is needed by waiting work.</summary>
    PauseAction OnEviction { get; }

    /// <summary>Order of eviction among kept sessions: the highest score goes first.</summary>
    double EvictionScore(DateTimeOffset pauseStart, TimeSpan predictedPause, DateTimeOffset now);
}
