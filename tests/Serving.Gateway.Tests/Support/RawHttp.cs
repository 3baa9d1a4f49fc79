using System.Net.Sockets;
using System.Text;

namespace Serving.Gateway.Tests.Support;

/// <summary>
/// Sends request bytes exactly as given over a fresh TCP connection (HttpClient refuses CR/LF in header values and
/// fixes up what a hostile client would not) and reads the whole answer; <c>Connection: close</c> ends it.
/// </summary>
public static class RawHttp
{
    public sealed record Answer(int Status, string Head, string Body);

    /// <exception cref="TimeoutException">No complete answer within <paramref name="timeout"/>: the server hung.</exception>
    public static async Task<Answer> SendAsync(string baseUrl, byte[] request, TimeSpan timeout)
    {
        var uri = new Uri(baseUrl);
        using var cts = new CancellationTokenSource(timeout);
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(uri.Host, uri.Port, cts.Token);
            var stream = tcp.GetStream();
            try
            {
                await stream.WriteAsync(request, cts.Token);
            }
            catch (IOException)
            {
                // The server may answer (413, 431) and close before reading everything we send; read its answer.
            }

            var received = new MemoryStream();
            var buffer = new byte[16384];
            try
            {
                int n;
                while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0)
                {
                    received.Write(buffer, 0, n);
                }
            }
            catch (IOException) when (received.Length > 0)
            {
                // Reset after the answer was sent (the server closed with unread request bytes): the answer stands.
            }

            var text = Encoding.UTF8.GetString(received.ToArray());
            var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var head = split < 0 ? text : text[..split];
            var status = head.Length >= 12 && head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(head.AsSpan(9, 3), out var s) ? s : 0;
            var body = split < 0 ? "" : text[(split + 4)..];
            return new Answer(status, head, head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase) ? Unchunk(body) : body);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no answer within {timeout}");
        }
    }

    /// <summary>The payload of a chunked body (sizes are hex lines; a zero size ends it).</summary>
    private static string Unchunk(string body)
    {
        var payload = new StringBuilder();
        var at = 0;
        while (at < body.Length)
        {
            var end = body.IndexOf("\r\n", at, StringComparison.Ordinal);
            if (end < 0 || !int.TryParse(body.AsSpan(at, end - at), System.Globalization.NumberStyles.HexNumber, null, out var size) || size == 0)
            {
                break;
            }

            // Sizes count bytes; our error bodies are ASCII JSON, and a multi-byte character only shortens the read.
            payload.Append(body, end + 2, Math.Min(size, body.Length - end - 2));
            at = end + 2 + size + 2;
        }

        return payload.ToString();
    }

    public static byte[] Request(string method, string path, IEnumerable<string> headerLines, byte[] body)
    {
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        foreach (var line in headerLines)
        {
            head.Append(line).Append("\r\n");
        }

        head.Append("\r\n");
        return [.. Encoding.Latin1.GetBytes(head.ToString()), .. body];
    }
}
