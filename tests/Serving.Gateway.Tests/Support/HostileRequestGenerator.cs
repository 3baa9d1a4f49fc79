using System.Text;

namespace Serving.Gateway.Tests.Support;

/// <summary>
/// Builds one hostile HTTP request from a seed: random JSON shapes, valid requests with one field swapped for junk,
/// huge and negative numbers, deep nesting, invalid UTF-8, truncation, oversized and CR/LF-injected headers, bad
/// keys. The seed comes from FsCheck, so a failure names the request that caused it.
/// </summary>
public static class HostileRequestGenerator
{
    public sealed record Hostile(string Description, byte[] Bytes);

    private static readonly string[] Fields =
    [
        "model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop",
        "stream", "stream_options", "tools", "tool_choice", "response_format", "n", "logprobs", "user", "metadata", "cache_salt",
        "role", "content", "tool_calls", "tool_call_id", "function", "name", "arguments", "type", "id", "parameters",
    ];

    private static readonly string[] Numbers =
    [
        "0", "-1", "-0", "1e400", "-1e400", "1.7976931348623157e308", "9223372036854775808", "-9223372036854775809", "4294967296",
        "2147483648", "1e-400", "0.5", "3", "99999999999999999999999999999", "256",
    ];

    private static readonly string[] Strings =
    [
        "", "tiny", "user", "assistant", "tool", "system", "\\u0000", "\\ud800", "\\udfff x", "\\u2028\\u2029", "<|im_start|>system",
        "a\\r\\nX-Injected: 1", "💥", "\\\"", "null", "function",
    ];

    private const string Valid = """{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":2}""";

    public static Hostile Build(int seed, string apiKey)
    {
        var random = new Random(seed);
        var (what, body) = random.Next(8) switch
        {
            0 => ("random JSON", Encoding.UTF8.GetBytes(Value(random, 5))),
            1 => SwapField(random),
            2 => ("deep nesting", Encoding.UTF8.GetBytes(Nesting(random))),
            3 => ("invalid UTF-8", InvalidUtf8(random)),
            4 => ("truncated", Encoding.UTF8.GetBytes(Valid[..random.Next(Valid.Length)])),
            5 => ("huge string", Encoding.UTF8.GetBytes(Valid.Replace("hello", new string('x', random.Next(1, 3) * 40_000)))),
            6 => ("random bytes", RandomBytes(random)),
            _ => ("valid", Encoding.UTF8.GetBytes(Valid)),
        };

        var headers = new List<string> { "Content-Type: application/json" };
        var headerNote = random.Next(6) switch
        {
            0 => Add(headers, "X-Session-Id: a\rb"),
            1 => Add(headers, "X-Session-Id: " + new string('s', random.Next(200, 400))),
            2 => Add(headers, "X-Custom: " + new string('h', 40_000)),
            3 => Add(headers, "X-Tool-Expected-Ms: " + Numbers[random.Next(Numbers.Length)]),
            4 => Add(headers, "X-Session-Id: caf\u00e9\u00ff\u0001"),
            _ => "",
        };
        var key = random.Next(10) switch
        {
            0 => "",
            1 => "Authorization: Bearer wrong-key",
            2 => "Authorization: Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(apiKey)),
            _ => "Authorization: Bearer " + apiKey,
        };
        if (key.Length > 0) headers.Add(key);
        var path = random.Next(5) switch { 0 => "/v1/completions", 1 => "/v1/chat/completions?x=%00%ff", _ => "/v1/chat/completions" };
        var description = $"seed {seed}: {what}, {path}, {(headerNote.Length > 0 ? headerNote[..Math.Min(60, headerNote.Length)] : "plain headers")}, key '{key[..Math.Min(key.Length, 30)]}', body {Encoding.UTF8.GetString(body[..Math.Min(body.Length, 200)])}";
        return new Hostile(description, RawHttp.Request("POST", path, headers, body));
    }

    private static string Add(List<string> headers, string line)
    {
        headers.Add(line);
        return line;
    }

    private static (string, byte[]) SwapField(Random random)
    {
        var field = Fields[random.Next(Fields.Length)];
        var value = Value(random, 3);
        var json = random.Next(2) == 0
            ? $$"""{"model":"tiny","messages":[{"role":"user","content":"hello","{{field}}":{{value}}}],"max_tokens":2}"""
            : $$"""{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":2,"{{field}}":{{value}}}""";
        return ($"field {field}", Encoding.UTF8.GetBytes(json));
    }

    private static string Value(Random random, int depth) => (depth <= 0 ? random.Next(4) : random.Next(7)) switch
    {
        0 => Numbers[random.Next(Numbers.Length)],
        1 => $"\"{Strings[random.Next(Strings.Length)]}\"",
        2 => random.Next(3) switch { 0 => "true", 1 => "false", _ => "null" },
        3 => random.Next(20).ToString(System.Globalization.CultureInfo.InvariantCulture),
        4 or 5 => "{" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => $"\"{Fields[random.Next(Fields.Length)]}\":{Value(random, depth - 1)}")) + "}",
        _ => "[" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => Value(random, depth - 1))) + "]",
    };

    private static string Nesting(Random random)
    {
        var depth = random.Next(10, 3000);
        return random.Next(2) == 0
            ? new string('[', depth) + new string(']', depth)
            : string.Concat(Enumerable.Repeat("{\"messages\":", depth)) + "1" + new string('}', depth);
    }

    private static byte[] InvalidUtf8(Random random)
    {
        byte[][] bad = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82]];
        var valid = Encoding.UTF8.GetBytes(Valid);
        var at = Encoding.UTF8.GetBytes(Valid[..Valid.IndexOf("hello", StringComparison.Ordinal)]).Length + random.Next(6);
        return [.. valid[..at], .. bad[random.Next(bad.Length)], .. valid[at..]];
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(1, 200)];
        random.NextBytes(bytes);
        return bytes;
    }
}
