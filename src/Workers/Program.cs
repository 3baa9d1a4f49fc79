using Serving.Workers.Commands;

// The worker executable has one job per subcommand; each lives in Commands/ beside its capability.
//   serve  run a worker process (HTTP endpoint + step loop) for the gateway
//   model  generate a random-weight Llama GGUF model
//   bench  measure the engine (prefill, batched decode, park/restore vs recompute)
// Socket completions inline on the I/O thread that saw them, as in the gateway (see its Program.cs for why).
Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

return args.FirstOrDefault() switch
{
    "serve" => await ServeCommand.RunAsync(args[1..]),
    "model" => ModelCommand.Run(args[1..]),
    "bench" => BenchCommand.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Serving.Workers <serve|model|bench> [options]   (--help after a command for its options)");
    return 2;
}
