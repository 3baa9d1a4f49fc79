namespace Serving.Workers.Models;

/// <summary>
/// llama.cpp's tokenizer test files (<c>models/ggml-vocab-NAME.gguf</c>, real tokenizers without weights) and the
/// chat template of the model family each comes from (<c>models/templates</c>), from the llama.cpp source that
/// <c>scripts/fetch-llama-source.sh</c> unpacks into <c>.peer/llama.cpp</c>.
/// </summary>
public static class RealVocabularies
{
    private static readonly Dictionary<string, string?> TemplateOf = new(StringComparer.OrdinalIgnoreCase)
    {
        ["qwen2"] = "Qwen-Qwen2.5-7B-Instruct.jinja",
        ["llama-bpe"] = "meta-llama-Llama-3.1-8B-Instruct.jinja",
        ["phi-3"] = "microsoft-Phi-3.5-mini-instruct.jinja",
        ["qwen35"] = "Qwen3.5-4B.jinja",
        ["gemma-4"] = "google-gemma-4-31B-it.jinja",
        ["command-r"] = "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
        ["deepseek-llm"] = "deepseek-ai-DeepSeek-V3.1.jinja",
        ["llama-spm"] = null,
        ["gpt-2"] = null,
    };

    public static IReadOnlyCollection<string> Known => TemplateOf.Keys;

    public static string SourceDir(string repoRoot) => Path.Combine(repoRoot, ".peer", "llama.cpp");

    /// <summary>
    /// A vocabulary by name (<c>qwen2</c>: <c>ggml-vocab-qwen2.gguf</c> with the Qwen2.5 template) or by file; an
    /// explicit template file wins. Unknown families get ChatML.
    /// </summary>
    /// <exception cref="FileNotFoundException">The vocabulary or template file is not there.</exception>
    public static TokenizerSource Resolve(string nameOrFile, string? templateFile, string repoRoot)
    {
        var source = SourceDir(repoRoot);
        var isFile = nameOrFile.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || nameOrFile.Contains('/');
        var vocab = isFile ? nameOrFile : Path.Combine(source, "models", $"ggml-vocab-{nameOrFile}.gguf");
        if (!File.Exists(vocab))
        {
            throw new FileNotFoundException(isFile ? $"vocabulary file not found: {vocab}"
                : $"no vocabulary '{nameOrFile}' in {Path.GetDirectoryName(vocab)} (run scripts/fetch-llama-source.sh; known: {string.Join(", ", Known)})");
        }

        var template = templateFile
            ?? (!isFile && TemplateOf.TryGetValue(nameOrFile, out var name) && name is not null ? Path.Combine(source, "models", "templates", name) : null);
        if (template is not null && !File.Exists(template))
        {
            throw new FileNotFoundException($"chat template not found: {template}");
        }

        return new TokenizerSource(vocab, template is null ? null : File.ReadAllText(template));
    }
}
