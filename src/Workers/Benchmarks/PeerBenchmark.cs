using System.Diagnostics;
using System.Text.Json;

namespace Serving.Workers.Benchmarks;

/// <summary>
/// llama.cpp's own figures for the rows of <see cref="EngineBenchmark"/>, from the binaries scripts/build-peer.sh puts
/// in .peer/bin: llama-bench for prefill (<c>-p</c>, and <c>-d</c> for the prefill after a filled context),
/// llama-batched-bench for decode at batch B (<c>-npp 128 -ntg 32 -npl B</c>, non-unified KV as ours). llama.cpp has no
/// mixed-step benchmark: its row is the sum of its decode step at batch 8 and its 256-token prefill (on CPU the two
/// costs add up; llama-native-notes §4).
/// </summary>
public static class PeerBenchmark
{
    public static string? FindBin(string repoRoot)
    {
        var bin = Path.Combine(repoRoot, ".peer", "bin");
        return File.Exists(Path.Combine(bin, "llama-bench")) && File.Exists(Path.Combine(bin, "llama-batched-bench")) ? bin : null;
    }

    public static List<BenchFigure> Run(string bin, string model, int threads, int repetitions)
    {
        var figures = new List<BenchFigure>();
        var t = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var r = repetitions.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sizes = string.Join(',', EngineBenchmark.PrefillSizes.Append(EngineBenchmark.MixedChunk).Distinct());
        var prefill = JsonLines(Run(Path.Combine(bin, "llama-bench"), "-m", model, "-t", t, "-r", r, "-n", "0", "-p", sizes, "-o", "jsonl"))
            .ToDictionary(j => j.GetProperty("n_prompt").GetInt32(), j => j.GetProperty("avg_ts").GetDouble());
        foreach (var n in EngineBenchmark.PrefillSizes)
        {
            figures.Add(new($"prefill {n} (empty sequence)", prefill[n], "tok/s"));
        }

        var deep = JsonLines(Run(Path.Combine(bin, "llama-bench"), "-m", model, "-t", t, "-r", r, "-n", "0",
            "-p", $"{EngineBenchmark.AppendTokens}", "-d", $"{EngineBenchmark.AppendDepth}", "-o", "jsonl")).Single();
        figures.Add(new($"prefill {EngineBenchmark.AppendTokens} after {EngineBenchmark.AppendDepth}", deep.GetProperty("avg_ts").GetDouble(), "tok/s"));

        var batches = string.Join(',', EngineBenchmark.DecodeBatches);
        var decode = JsonLines(Run(Path.Combine(bin, "llama-batched-bench"), "-m", model, "-t", t, "-c", "16384", "-npp", $"{EngineBenchmark.DecodePrompt}",
                "-ntg", $"{EngineBenchmark.DecodeSteps}", "-npl", batches, "--output-format", "jsonl"))
            .ToDictionary(j => j.GetProperty("pl").GetInt32(), j => j.GetProperty("speed_tg").GetDouble());
        foreach (var b in EngineBenchmark.DecodeBatches)
        {
            figures.Add(new($"decode batch {b}", decode[b], "tok/s"));
        }

        var step8Ms = EngineBenchmark.MixedDecodes / decode[EngineBenchmark.MixedDecodes] * 1000;
        var chunkMs = EngineBenchmark.MixedChunk / prefill[EngineBenchmark.MixedChunk] * 1000;
        figures.Add(new($"mixed step: {EngineBenchmark.MixedDecodes} decodes + {EngineBenchmark.MixedChunk}-token chunk", step8Ms + chunkMs, "ms"));
        return figures;
    }

    private static IEnumerable<JsonElement> JsonLines(string output) =>
        output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone());

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        args.ToList().ForEach(psi.ArgumentList.Add);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{Path.GetFileName(file)} exited with {process.ExitCode}");
    }
}
