namespace Serving.Scheduler.Pauses;

/// <summary>
/// Predicts a tool pause from the pauses seen after the same tool (Continuum keeps per-tool history too). An
/// exponentially weighted mean of log-durations: tool latencies are heavy-tailed, and the log keeps one 3-minute
/// install from dominating the estimate of a tool that usually takes 0.3 s.
/// </summary>
public sealed class PausePredictor(TimeSpan defaultPrediction, double weight = 0.3)
{
    private readonly Dictionary<string, double> _logMeanSeconds = new(StringComparer.Ordinal);

    public int KnownTools => _logMeanSeconds.Count;

    public void Observe(string? tool, TimeSpan pause)
    {
        var key = tool ?? "";
        var sample = Math.Log(Math.Max(pause.TotalSeconds, 1e-3));
        _logMeanSeconds[key] = _logMeanSeconds.TryGetValue(key, out var mean) ? mean + weight * (sample - mean) : sample;
    }

    /// <summary>The client's hint wins; then this tool's history; then the default.</summary>
    public TimeSpan Predict(string? tool, double? hintMs) =>
        hintMs is > 0 ? TimeSpan.FromMilliseconds(hintMs.Value)
        : _logMeanSeconds.TryGetValue(tool ?? "", out var mean) ? TimeSpan.FromSeconds(Math.Exp(mean))
        : defaultPrediction;
}
