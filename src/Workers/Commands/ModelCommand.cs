using Serving.Workers.Models;

namespace Serving.Workers.Commands;

/// <summary>
/// <c>model --kind tiny|base125m --out PATH [--seed N] [--vocab NAME|FILE.gguf [--template FILE.jinja]]</c>: writes a
/// random-weight Llama GGUF model, with our small vocabulary or a real tokenizer and its model family's chat template.
/// </summary>
internal static class ModelCommand
{
    public static int Run(string[] args)
    {
        var options = CommandLineOptions.Parse(args, ["kind", "out", "seed", "vocab", "template"]);
        if (options.Errors.Count > 0 || !options.Values.ContainsKey("out"))
        {
            foreach (var error in options.Errors)
            {
                Console.Error.WriteLine($"error: {error}");
            }

            Console.Error.WriteLine("usage: Serving.Workers model --kind tiny|base125m --out PATH [--seed N] " +
                                    $"[--vocab {string.Join("|", RealVocabularies.Known)}|FILE.gguf [--template FILE.jinja]]");
            return 2;
        }

        try
        {
            var kind = ModelGenerator.ParseKind(options.Get("kind", "tiny"));
            var seed = int.Parse(options.Get("seed", "42"));
            var tokenizer = options.Values.TryGetValue("vocab", out var vocab)
                ? RealVocabularies.Resolve(vocab, options.Values.GetValueOrDefault("template"), CommandLineOptions.RepoRoot())
                : null;
            var made = ModelGenerator.Generate(kind, options.Values["out"], seed, tokenizer);
            Console.WriteLine($"generated {made.Kind} model{(vocab is null ? "" : $" with the {vocab} tokenizer")}: {made.Parameters:N0} parameters, " +
                              $"{made.Tensors} tensors, {made.Bytes / 1048576.0:F1} MiB, seed {seed}, {made.Elapsed.TotalSeconds:F1} s -> {made.Path}");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
