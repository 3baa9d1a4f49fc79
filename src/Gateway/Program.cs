using Serving.Gateway;

// The gateway: the only public surface. See GatewayApp for what it wires together.
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
