namespace Serving.Workers.Commands;

/// <summary>Placeholder until the GGUF generator lands.</summary>
internal static class ModelCommand
{
    public static int Run(string[] args) => 1;
}
