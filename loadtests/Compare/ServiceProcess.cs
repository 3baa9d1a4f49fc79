using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Serving.LoadTests.Compare;

/// <summary>A server started as a child process: our gateway (and through it, its workers) or the llama.cpp peer.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServiceProcess(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public static Task<ServiceProcess> StartAsync(string gatewayDll, string workerDll, string model, string scheduler, string pausePolicy, IEnumerable<string> extraArgs, TimeSpan timeout)
    {
        var url = $"http://127.0.0.1:{FreePort()}";
        string[] args = [gatewayDll, "--urls", url, "--model", model, "--worker-path", workerDll, "--scheduler", scheduler, "--pause-policy", pausePolicy, "--Logging:LogLevel:Default", "Warning", .. extraArgs];
        return StartAsync("dotnet", args, url, "/health/ready", $"the gateway ({scheduler}+{pausePolicy})", echoErrors: true, timeout);
    }

    /// <summary>
    /// llama.cpp's own server (built into .peer/bin by scripts/build-peer.sh) with the same slots, per-slot context and
    /// threads as ours, its defaults otherwise (prompt cache per slot, host-memory prompt cache). With
    /// <paramref name="chatTemplate"/> it renders chat with that Jinja file instead of the GGUF's template.
    /// </summary>
    public static Task<ServiceProcess> StartPeerAsync(string llamaServer, string model, int slots, int contextPerSlot, int threads, TimeSpan timeout, string? chatTemplate = null, bool jinja = false)
    {
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        string[] args = ["-m", model, "-np", $"{slots}", "-c", $"{slots * contextPerSlot}", "-t", $"{threads}", "--host", "127.0.0.1", "--port", $"{port}",
            .. chatTemplate is null ? Array.Empty<string>() : ["--chat-template-file", chatTemplate], .. jinja ? ["--jinja"] : Array.Empty<string>()];
        // It logs every request on stderr: not echoed.
        return StartAsync(llamaServer, args, url, "/health", "llama-server", echoErrors: false, timeout);
    }

    private static async Task<ServiceProcess> StartAsync(string file, IEnumerable<string> args, string url, string readyPath, string name, bool echoErrors, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        args.ToList().ForEach(psi.ArgumentList.Add);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {name}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null && echoErrors) Console.Error.WriteLine($"[{name}] {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var service = new ServiceProcess(process, url);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((await http.GetAsync(url + readyPath)).IsSuccessStatusCode)
                {
                    return service;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        await service.DisposeAsync();
        throw new InvalidOperationException($"{name} did not become ready within {timeout}");
    }

    /// <summary>SIGTERM (the gateway drains and stops its workers), then kill if it lingers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit(2000);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
