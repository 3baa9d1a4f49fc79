using Serving.Workers.Engine;
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
                                    "[--batch-tokens 512] [--scheduler mlfq|fcfs] [--pause-policy drop|keep|ttl|adaptive] [--host-pool-mb 512] " +
                                    "[--disk-spill-dir DIR --disk-spill-mb N] [--queue 1024]");
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
        Console.WriteLine($"worker ready on {worker.Url}");
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
}
