using System.Diagnostics;

namespace Serving.LoadTests;

/// <summary>Where the built gateway, worker and generated models live, found from the load-test binary's location.</summary>
internal sealed record RepoPaths(string Root, string GatewayDll, string WorkerDll)
{
    public static RepoPaths? Find()
    {
        var config = AppContext.BaseDirectory.Contains("/release/", StringComparison.Ordinal) ? "release" : "debug";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var gateway = Path.Combine(dir.FullName, "artifacts", "bin", "Serving.Gateway", config, "Serving.Gateway.dll");
            var worker = Path.Combine(dir.FullName, "artifacts", "bin", "Serving.Workers", config, "Serving.Workers.dll");
            if (File.Exists(gateway) && File.Exists(worker))
            {
                return new RepoPaths(dir.FullName, gateway, worker);
            }
        }

        return null;
    }

    /// <summary>What to say when <see cref="LlamaServer"/> is missing.</summary>
    public const string NoPeer = "no llama-server in .peer/bin: run scripts/build-peer.sh (about 8 minutes)";

    /// <summary>llama.cpp's server built by scripts/build-peer.sh, or null when it has not been built.</summary>
    public string? LlamaServer => File.Exists(Path.Combine(Root, ".peer", "bin", "llama-server")) ? Path.Combine(Root, ".peer", "bin", "llama-server") : null;

    /// <summary>
    /// Qwen2.5's chat template from llama.cpp's source (unpacked by scripts/fetch-llama-source.sh), or null. The
    /// generated benchmark model's GGUF template is plain ChatML, which llama-server renders without the tools;
    /// comparisons give this template to both servers, so both build the same prompt.
    /// </summary>
    public string? PeerToolTemplate => File.Exists(Path.Combine(Root, ".peer", "llama.cpp", "models", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja"))
        ? Path.Combine(Root, ".peer", "llama.cpp", "models", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
        : null;

    /// <summary>
    /// The generated model of that kind under .models/, made by the worker's model command when missing. A kind
    /// <c>SIZE-VOCAB</c> (<c>base125m-qwen2</c>) carries a real tokenizer from llama.cpp's source (as ./run.sh's model).
    /// </summary>
    public string EnsureModel(string kind)
    {
        var path = Path.Combine(Root, ".models", kind + ".gguf");
        if (!File.Exists(path))
        {
            var (size, vocab) = kind.Split('-', 2) is [var s, var v] ? (s, v) : (kind, null);
            string[] vocabArgs = vocab is null ? [] : ["--vocab", vocab];
            Process.Start("dotnet", [WorkerDll, "model", "--kind", size, .. vocabArgs, "--out", path])!.WaitForExit();
        }

        return path;
    }
}
