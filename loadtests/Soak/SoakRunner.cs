using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HdrHistogram;

namespace Serving.LoadTests.Soak;

/// <summary>What a soak run saw: errors by label (HTTP status, "timeout", exception name) and turn latency.</summary>
public sealed record SoakResult(int Sessions, int Completed, IReadOnlyDictionary<string, int> ErrorsByStatus, double MeanMs, double P99Ms, double MaxMs, TimeSpan Wall)
{
    public int Errors => ErrorsByStatus.Values.Sum();

    public string Describe() =>
        $"{Sessions} sessions, {Completed} answered, {Errors} errors" +
        (Errors == 0 ? "" : " (" + string.Join(", ", ErrorsByStatus.OrderBy(e => e.Key).Select(e => $"{e.Key}: {e.Value}")) + ")") +
        $"; latency mean {MeanMs:F1} ms, p99 {P99Ms:F1} ms, max {MaxMs:F1} ms; wall {Wall.TotalSeconds:F1} s";
}

/// <summary>
/// Many distinct sessions, one short turn each, never marked final — what agent frameworks send. A server whose
/// session bookkeeping holds places for idle sessions stalls here; ours must answer every turn promptly. The turn
/// itself is a delegate, so the same run drives the real service over HTTP or the step loop in-process.
/// </summary>
public static class SoakRunner
{
    /// <param name="turn">Runs session <c>i</c>'s one turn; returns null on success, else an error label.</param>
    public static async Task<SoakResult> RunAsync(int sessions, int concurrency, Func<int, CancellationToken, Task<string?>> turn, TimeSpan limit, TextWriter? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sessions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        using var cts = new CancellationTokenSource(limit);
        var histogram = new LongHistogram(TimeStamp.Hours(1), 3);
        var errors = new Dictionary<string, int>(StringComparer.Ordinal);
        var gate = new Lock();
        var next = -1;
        var completed = 0;
        var wall = Stopwatch.StartNew();

        async Task Worker()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < sessions && !cts.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                string? error;
                try
                {
                    error = await turn(i, cts.Token);
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested)
                {
                    error = "timeout";
                }
                catch (Exception e)
                {
                    error = e.GetType().Name;
                }

                var elapsed = Stopwatch.GetElapsedTime(started);
                lock (gate)
                {
                    histogram.RecordValue(Math.Max(1, (long)(elapsed.TotalMilliseconds * 1000)));
                    if (error is null)
                    {
                        completed++;
                    }
                    else
                    {
                        errors[error] = errors.GetValueOrDefault(error) + 1;
                    }
                }

                if (progress is not null && (i + 1) % Math.Max(1, sessions / 20) == 0)
                {
                    progress.Write($"\r{i + 1}/{sessions} sessions");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker)));
        var notRun = sessions - completed - errors.Values.Sum();
        if (notRun > 0)
        {
            errors["not run (time limit)"] = notRun;
        }

        progress?.WriteLine();
        return new SoakResult(sessions, completed, errors, histogram.GetMean() / 1000, histogram.GetValueAtPercentile(99) / 1000.0,
            histogram.GetMaxValue() / 1000.0, wall.Elapsed);
    }

    /// <summary>One turn over HTTP: a distinct <c>X-Session-Id</c>, one output token, no X-Session-Final.</summary>
    public static Func<int, CancellationToken, Task<string?>> HttpTurn(HttpClient http, string runId, string model = "default") => async (i, ct) =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = JsonContent.Create(new JsonObject
            {
                ["model"] = model,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"soak session {i}: say one word" }),
                ["max_tokens"] = 1,
                ["temperature"] = 0,
            }),
        };
        request.Headers.Add("X-Session-Id", $"soak-{runId}-{i}");
        using var response = await http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            return ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var body = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
        return body?["choices"] is JsonArray { Count: 1 } ? null : "bad body";
    };
}
