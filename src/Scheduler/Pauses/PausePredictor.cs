namespace Serving.Scheduler.Pauses;

/// <summary>
/// Predicts a tool pause from the pauses seen after the same tool (Continuum keeps per-tool history too). An
/// exponentially weighted mean of log-durations: tool latencies are heavy-tailed, and the log keeps one 3-minute
/// install from dominating the estimate of a tool that usually takes 0.3 s. Tool names come from model output, so at
/// most <paramref name="maxTools"/> are tracked by name; later new names share one history.
/// </summary>
public sealed class PausePredictor(TimeSpan defaultPrediction, double weight = 0.3, int maxTools = 256)
{
    /// <summary>The shared history of tools seen after the table was full.</summary>
    public const string OtherTools = "\0other";

    private readonly Dictionary<string, double> _logMeanSeconds = new(StringComparer.Ordinal);

    public int KnownTools => _logMeanSeconds.Count;

    public void Observe(string? tool, TimeSpan pause)
    {
        var key = KeyOf(tool);
        if (!_logMeanSeconds.ContainsKey(key) && _logMeanSeconds.Count >= maxTools)
        {
            key = OtherTools;
        }

        var sample = Math.Log(Math.Max(pause.TotalSeconds, 1e-3));
        _logMeanSeconds[key] = _logMeanSeconds.TryGetValue(key, out var mean) ? mean + weight * (sample - mean) : sample;
    }

    /// <summary>The client's hint wins; then this tool's history; then the default.</summary>
    public TimeSpan Predict(string? tool, double? hintMs) =>
        hintMs is > 0 ? TimeSpan.FromMilliseconds(hintMs.Value)
        : _logMeanSeconds.TryGetValue(KeyOf(tool), out var mean) || _logMeanSeconds.TryGetValue(OtherTools, out mean)
            ? TimeSpan.FromSeconds(Math.Exp(mean))
            : defaultPrediction;

    private static string KeyOf(string? tool) => tool ?? "";
}
