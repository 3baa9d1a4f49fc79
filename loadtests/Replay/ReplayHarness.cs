using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Replay;

/// <summary>
/// Replays a workload against an OpenAI-compatible server over real HTTP: every session is a closed loop (ask,
/// stream the answer, wait the tool pause, send the tool result, ask again) with its own X-Session-Id, in the shape
/// agent frameworks send: tools offered on every turn, the answer returned as an assistant message with
/// <c>tool_calls</c>, the result as a <c>role: "tool"</c> message; the last turn says X-Session-Final. TTFT and inter-token gaps are measured client-side from the SSE stream.
/// </summary>
public sealed class ReplayHarness(HttpClient http, string model, TextWriter progress)
{
    private int _turnsDone;
    private int _errors;

    /// <summary>
    /// A client for one server. Pooled connections idle for more than a second are not reused: servers close idle
    /// keep-alive connections on their own clock (llama-server after 5 s), and a POST sent on a connection the server
    /// just closed fails without a retry, which would count as the server's error.
    /// </summary>
    public static HttpClient CreateClient(string url, TimeSpan timeout, string? apiKey = null)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1) };
        var http = new HttpClient(handler) { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = timeout };
        if (apiKey is not null) http.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        return http;
    }

    /// <summary>
    /// Fails fast with a clear message when nothing answers at the URL. Readiness from <c>/health/ready</c>, else
    /// <c>/health</c> (llama-server, vLLM), else <c>GET /v1/models</c>: the first path the server knows decides.
    /// </summary>
    public static async Task<string?> CheckServerAsync(HttpClient http)
    {
        try
        {
            foreach (var path in (string[])["health/ready", "health", "v1/models"])
            {
                using var response = await http.GetAsync(path);
                if (response.IsSuccessStatusCode) return null;
                if (response.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed))
                {
                    return $"server at {http.BaseAddress} is not ready ({path}: HTTP {(int)response.StatusCode})";
                }
            }

            return $"server at {http.BaseAddress} answers none of /health/ready, /health, /v1/models: is it an OpenAI-compatible server?";
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
                    messages.Add(AgentMessages.ToolResult(t, turn));
                }

                var final = t == session.Turns.Count - 1;
                var record = await SendAsync(session.Id, t, messages, turn.MaxTokens, final, clock, ct);
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

                if (!final)
                {
                    // As an agent framework does: the answer goes back as the assistant message that called the next tool.
                    messages.Add(AgentMessages.ToolCall(record.Text, t + 1, session.Turns[t + 1]));
                }
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
            ["tools"] = AgentMessages.Tools(),
        };
        var start = clock.Elapsed.TotalSeconds;
        try
        {
            using var response = await SendOnceMoreIfTheConnectionFailedAsync(body, session, final, ct);
            if (!response.IsSuccessStatusCode)
            {
                var error = await response.Content.ReadAsStringAsync(ct);
                return TurnRecordWithText.Failed(session, turn, start, clock, (int)response.StatusCode, error);
            }

            return await ReadStreamAsync(response, session, turn, start, clock, ct);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return TurnRecordWithText.Failed(session, turn, start, clock, 0, e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message);
        }
    }

    /// <summary>
    /// A request that fails before any response header (mostly: the server closed a pooled keep-alive connection just
    /// as it was reused) is sent once more on a new connection. A server that really failed fails the second attempt
    /// too, and that is counted.
    /// </summary>
    private async Task<HttpResponseMessage> SendOnceMoreIfTheConnectionFailedAsync(JsonObject body, string session, bool final, CancellationToken ct)
    {
        try
        {
            using var request = CreateRequest(body, session, final);
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.ConnectionError)
        {
            using var again = CreateRequest(body, session, final);
            return await http.SendAsync(again, HttpCompletionOption.ResponseHeadersRead, ct);
        }
    }

    private static HttpRequestMessage CreateRequest(JsonObject body, string session, bool final)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Session-Id", session);
        if (final)
        {
            request.Headers.Add("X-Session-Final", "true");
        }

        return request;
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
