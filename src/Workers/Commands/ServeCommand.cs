namespace Serving.Workers.Commands;

/// <summary>Placeholder until the worker HTTP endpoint lands.</summary>
internal static class ServeCommand
{
    public static Task<int> RunAsync(string[] args) => Task.FromResult(1);
}
