using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Serving.LoadTests.Probe;

/// <summary>One streamed request as a client sees it: time to the first content chunk and the gaps after it.</summary>
public sealed record ProbeSample(double TtftMs, double MeanItlMs, int Chunks, int? PromptTokens);

/// <summary>
/// Streams single requests, one at a time, to any OpenAI-compatible server and times them at the client: the fair
/// way to compare a whole serving stack with llama-server. Each prompt starts with a fresh random word, so no server
/// reuses a cached prefix between repetitions.
/// </summary>
public static class StreamProbe
{
    private static readonly string[] Words = ["alpha", "river", "stone", "cloud", "seven", "market", "yellow", "engine", "garden", "silver", "window", "forest"];

    public static string Prompt(int words, Random random) =>
        $"{random.Next(1_000_000)} " + string.Join(' ', Enumerable.Range(0, words).Select(_ => Words[random.Next(Words.Length)]));

    public static async Task<ProbeSample> StreamOnceAsync(HttpClient http, string prompt, int maxTokens, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["model"] = "default",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonContent.Create(body) };
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        var arrivals = new List<double>();
        int? promptTokens = null;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
            {
                continue;
            }

            var chunk = JsonNode.Parse(line[6..]);
            if (chunk?["usage"]?["prompt_tokens"] is { } usage)
            {
                promptTokens = usage.GetValue<int>();
            }

            if (chunk?["choices"] is JsonArray { Count: > 0 } choices && choices[0]?["delta"]?["content"] is JsonValue content && content.ToString().Length > 0)
            {
                arrivals.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        var gaps = arrivals.Zip(arrivals.Skip(1), (a, b) => b - a).ToList();
        return new ProbeSample(arrivals.Count > 0 ? arrivals[0] : double.NaN, gaps.Count > 0 ? gaps.Average() : double.NaN, arrivals.Count, promptTokens);
    }

    public sealed record Measurement(double TtftMs, double ItlMs, double Chunks, int? PromptTokens);

    /// <summary>One warm-up request, then <paramref name="repeat"/> measured ones.</summary>
    public static async Task<List<ProbeSample>> SampleAsync(HttpClient http, int promptWords, int maxTokens, int repeat, int seed, CancellationToken ct)
    {
        var random = new Random(seed);
        await StreamOnceAsync(http, Prompt(promptWords, random), maxTokens, ct);
        var samples = new List<ProbeSample>();
        for (var i = 0; i < repeat; i++)
        {
            samples.Add(await StreamOnceAsync(http, Prompt(promptWords, random), maxTokens, ct));
        }

        return samples;
    }

    /// <summary>Medians of the samples (several runs may be pooled).</summary>
    public static Measurement Summarize(IReadOnlyList<ProbeSample> samples)
    {
        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Where(v => !double.IsNaN(v)).Order().ToList();
            return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
        }

        return new(Median(samples.Select(s => s.TtftMs)), Median(samples.Select(s => s.MeanItlMs)), Median(samples.Select(s => (double)s.Chunks)), samples[^1].PromptTokens);
    }

    public static async Task<Measurement> MeasureAsync(HttpClient http, int promptWords, int maxTokens, int repeat, int seed, CancellationToken ct) =>
        Summarize(await SampleAsync(http, promptWords, maxTokens, repeat, seed, ct));
}
