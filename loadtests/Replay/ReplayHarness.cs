using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Replay;

/// <summary>
/// Replays a workload against an OpenAI-compatible server over real HTTP: every session is a closed loop (ask,
/// stream the answer, wait the tool pause, send the tool result, ask again) with its own X-Session-Id, and the last
/// turn says X-Session-Final. TTFT and inter-token gaps are measured client-side from the SSE stream.
/// </summary>
public sealed class ReplayHarness(HttpClient http, string model, TextWriter progress)
{
    private int _turnsDone;
    private int _errors;

    /// <summary>Fails fast with a clear message when nothing answers at the URL.</summary>
    public static async Task<string?> CheckServerAsync(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync("health/ready");
            return response.IsSuccessStatusCode ? null : $"server at {http.BaseAddress} is not ready (HTTP {(int)response.StatusCode})";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return $"no server answers at {http.BaseAddress}: {e.Message}";
        }
    }

    public async Task<ReplayResult> RunAsync(string name, AgentWorkload workload, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        var clock = Stopwatch.StartNew();
        var turns = new List<TurnRecord>();
        var sessions = await Task.WhenAll(workload.Sessions.Select(s => RunSessionAsync(workload, s, clock, turns, cts.Token)));
        progress.WriteLine();
        return new ReplayResult(name, turns, sessions, clock.Elapsed.TotalSeconds, []);
    }

    private async Task<SessionRecord> RunSessionAsync(AgentWorkload workload, AgentSession session, Stopwatch clock, List<TurnRecord> all, CancellationToken ct)
    {
        var errors = 0;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, session.ArrivalSeconds - clock.Elapsed.TotalSeconds)), ct);
            var messages = new JsonArray
            {
                new JsonObject { ["role"] = "system", ["content"] = workload.SystemPrompt },
                new JsonObject { ["role"] = "user", ["content"] = session.Task },
            };
            for (var t = 0; t < session.Turns.Count; t++)
            {
                var turn = session.Turns[t];
                if (t > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(turn.PauseBeforeSeconds), ct);
                    messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"[{turn.ToolName} result]\n{turn.ToolResult}" });
                }

                var record = await SendAsync(session.Id, t, messages, turn.MaxTokens, t == session.Turns.Count - 1, clock, ct);
                lock (all)
                {
                    all.Add(record);
                }

                Report(record.Error is not null);
                if (record.Error is not null)
                {
                    errors++;
                    return new SessionRecord(session.Id, session.ArrivalSeconds, null, errors);
                }

                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = record.Text });
            }

            return new SessionRecord(session.Id, session.ArrivalSeconds, clock.Elapsed.TotalSeconds - session.ArrivalSeconds, errors);
        }
        catch (OperationCanceledException)
        {
            return new SessionRecord(session.Id, session.ArrivalSeconds, null, errors + 1);
        }
    }

    private async Task<TurnRecordWithText> SendAsync(string session, int turn, JsonArray messages, int maxTokens, bool final, Stopwatch clock, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = messages.DeepClone(),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Session-Id", session);
        if (final)
        {
            request.Headers.Add("X-Session-Final", "true");
        }

        var start = clock.Elapsed.TotalSeconds;
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                var error = await response.Content.ReadAsStringAsync(ct);
                return TurnRecordWithText.Failed(session, turn, start, clock, (int)response.StatusCode, error);
            }

            return await ReadStreamAsync(response, session, turn, start, clock, ct);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return TurnRecordWithText.Failed(session, turn, start, clock, 0, e.Message);
        }
    }

    private static async Task<TurnRecordWithText> ReadStreamAsync(HttpResponseMessage response, string session, int turn, double start, Stopwatch clock, CancellationToken ct)
    {
        var text = new StringBuilder();
        double? ttft = null;
        double last = 0;
        var gaps = new List<double>();
        int prompt = 0, cached = 0, completion = 0;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line[6..];
            if (data == "[DONE]")
            {
                return new TurnRecordWithText(new TurnRecord(session, turn, start, ttft, gaps, clock.Elapsed.TotalSeconds - start, prompt, cached, completion, 200, null), text.ToString());
            }

            using var json = JsonDocument.Parse(data);
            var root = json.RootElement;
            if (root.TryGetProperty("error", out var error))
            {
                return TurnRecordWithText.Failed(session, turn, start, clock, 502, error.ToString());
            }

            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                prompt = usage.GetProperty("prompt_tokens").GetInt32();
                completion = usage.GetProperty("completion_tokens").GetInt32();
                cached = usage.TryGetProperty("prompt_tokens_details", out var details) ? details.GetProperty("cached_tokens").GetInt32() : 0;
            }

            foreach (var choice in root.GetProperty("choices").EnumerateArray())
            {
                if (choice.GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 } piece)
                {
                    var now = clock.Elapsed.TotalSeconds;
                    if (ttft is null) ttft = now - start; else gaps.Add(now - last);
                    last = now;
                    text.Append(piece);
                }
            }
        }

        return TurnRecordWithText.Failed(session, turn, start, clock, 0, "the stream ended without [DONE]");
    }

    private void Report(bool failed)
    {
        var done = Interlocked.Increment(ref _turnsDone);
        var errors = failed ? Interlocked.Increment(ref _errors) : _errors;
        progress.Write($"\rturns done: {done}, errors: {errors}   ");
    }

    /// <summary>A turn record plus the assistant text the next turn sends back.</summary>
    private sealed record TurnRecordWithText(TurnRecord Record, string Text)
    {
        public string? Error => Record.Error;

        public static implicit operator TurnRecord(TurnRecordWithText r) => r.Record;

        public static TurnRecordWithText Failed(string session, int turn, double start, Stopwatch clock, int status, string error) =>
            new(new TurnRecord(session, turn, start, null, [], clock.Elapsed.TotalSeconds - start, 0, 0, 0, status, error), "");
    }
}
