using Serving.Gateway;

// The gateway: the only public surface. See GatewayApp for what it wires together.
// Socket completions run on the I/O thread that saw them, not handed to the thread pool: each streamed token crosses
// sockets twice in the gateway (worker -> gateway -> client), and on 2 cores every thread wake-up competes with
// llama.cpp's compute threads. Measured on the 125M model, 1,000 streamed tokens: gateway CPU 0.24 ms per token with
// it, 0.44 ms without (4 requests each, two alternations). Read once, when the first socket is made: set before any.
Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

var (app, errors) = GatewayApp.Build(args);
if (app is null)
{
    foreach (var error in errors)
    {
        Console.Error.WriteLine($"configuration error: {error}");
    }

    return 2;
}

await app.RunAsync();
return 0;
