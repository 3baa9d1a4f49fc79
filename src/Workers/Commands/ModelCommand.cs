using Serving.Workers.Models;

namespace Serving.Workers.Commands;

/// <summary><c>model --kind tiny|base125m --out PATH [--seed N]</c>: writes a random-weight Llama GGUF model.</summary>
internal static class ModelCommand
{
    public static int Run(string[] args)
    {
        var options = CommandLineOptions.Parse(args, ["kind", "out", "seed"]);
        if (options.Errors.Count > 0 || !options.Values.ContainsKey("out"))
        {
            foreach (var error in options.Errors)
            {
                Console.Error.WriteLine($"error: {error}");
            }

            Console.Error.WriteLine("usage: Serving.Workers model --kind tiny|base125m --out PATH [--seed N]");
            return 2;
        }

        try
        {
            var kind = ModelGenerator.ParseKind(options.Get("kind", "tiny"));
            var seed = int.Parse(options.Get("seed", "42"));
            var made = ModelGenerator.Generate(kind, options.Values["out"], seed);
            Console.WriteLine($"generated {made.Kind} model: {made.Parameters:N0} parameters, {made.Tensors} tensors, " +
                              $"{made.Bytes / 1048576.0:F1} MiB, seed {seed}, {made.Elapsed.TotalSeconds:F1} s -> {made.Path}");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
