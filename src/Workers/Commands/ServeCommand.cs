using Serving.Workers.Engine;
using Serving.Scheduler.Contracts;
using Serving.Workers.Hosting;

namespace Serving.Workers.Commands;

/// <summary>
/// <c>serve --model PATH --port N [...]</c>: one worker process. Prints <c>worker ready on URL</c> when it can take
/// requests (the gateway's supervisor waits for that line) and stops on SIGTERM or Ctrl-C.
/// </summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var errors = new List<string>();
        var settings = WorkerSettings.Parse(args, errors);
        if (errors.Count > 0)
        {
            errors.ForEach(e => Console.Error.WriteLine($"error: {e}"));
            Console.Error.WriteLine("usage: Serving.Workers serve --model PATH [--port N] [--slots 8] [--ctx-per-slot 2048] [--threads N] " +
                                    "[--batch-tokens 512] [--scheduler mlfq|fcfs] [--pause-policy drop|keep|ttl|adaptive] [--decode-first on|off] [--calibrate-costs on|off] " +
                                    "[--host-pool-mb 512] [--disk-spill-dir DIR --disk-spill-mb N] [--queue 1024] [--host 127.0.0.1] [--tls-cert cert.pem --tls-key key.pem] " +
                                    "[--chat-template FILE.jinja] [--tool-parser hermes|qwen3-coder|llama3|mistral|mistral-v11|deepseek|deepseek-v3.1|gpt-oss]");
            return 2;
        }

        if (settings.Secret is null)
        {
            Console.Error.WriteLine($"error: {WorkerSecret.EnvironmentVariable} is not set. A worker answers only the gateway that started it, which " +
                                    "passes a random secret in that variable; to run one by hand, set it and send 'Authorization: Bearer <secret>'.");
            return 2;
        }

        WorkerApp worker;
        try
        {
            worker = await WorkerApp.StartAsync(settings);
        }
        catch (EngineLoadException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }

        using var stop = new CancellationTokenSource();
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.Error.WriteLine($"llama.cpp libraries: {Native.LlamaNative.LoadedFrom}");
        if (settings.ParentPid is { } parent)
        {
            _ = WatchParentAsync(parent, stop);
        }

        // The gateway reads this line: the URL, then the model's tool-call format (known before the first stats poll).
        Console.WriteLine($"worker ready on {worker.Url} tool-format {worker.ToolFormat}");
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await worker.DisposeAsync();
        return 0;
    }

    /// <summary>
    /// A worker never outlives the gateway that started it (a gateway killed with SIGKILL cannot stop its workers):
    /// once the parent process is gone, the worker stops as on SIGTERM.
    /// </summary>
    private static async Task WatchParentAsync(int parentPid, CancellationTokenSource stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false) && IsAlive(parentPid))
        {
        }

        if (!stop.IsCancellationRequested)
        {
            Console.Error.WriteLine($"the gateway (pid {parentPid}) is gone; stopping");
            stop.Cancel();
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
