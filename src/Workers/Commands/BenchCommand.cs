namespace Serving.Workers.Commands;

/// <summary>Placeholder until the engine benchmark lands.</summary>
internal static class BenchCommand
{
    public static int Run(string[] args) => 1;
}
