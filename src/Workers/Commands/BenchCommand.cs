using System.Diagnostics;
using Serving.Workers.Benchmarks;
using Serving.Workers.Engine;
using Serving.Workers.Models;
using Serving.Workers.Native;

namespace Serving.Workers.Commands;

/// <summary>
/// <c>bench [--model PATH] [--threads N] [--peer] [--repetitions N] [--rounds N]</c>: measures the real engine on the
/// 125M model — prefill, batched decode, a mixed step, and parking a 1k-token session against recomputing it. With
/// <c>--peer</c>, llama.cpp's own llama-bench and llama-batched-bench run on the same model and threads, alternating
/// with ours for several rounds (this host drifts by 10–15 % within minutes, so a ratio of two back-to-back runs is
/// not trusted); one table gives the per-row medians and their ratio. Prints numbers; asserts nothing.
/// </summary>
internal static class BenchCommand
{
    public static int Run(string[] args)
    {
        var peer = args.Contains("--peer");
        var o = CommandLineOptions.Parse(args.Where(a => a != "--peer").ToArray(), ["model", "threads", "repetitions", "rounds"]);
        var threads = o.GetInt("threads", Environment.ProcessorCount, 1, 256);
        var repetitions = o.GetInt("repetitions", 3, 1, 100);
        var rounds = o.GetInt("rounds", 3, 1, 100);
        if (o.Errors.Count > 0)
        {
            o.Errors.ForEach(e => Console.Error.WriteLine($"error: {e}"));
            return 2;
        }

        var model = o.Values.GetValueOrDefault("model") ?? ModelGenerator.EnsureModel(ModelKind.Base125M, Path.Combine(CommandLineOptions.RepoRoot(), ".models", "base125m.gguf"));
        try
        {
            using var engine = LlamaEngine.Load(new LlamaEngineOptions { ModelPath = model, SlotCount = 16, ContextPerSlot = 4096, Threads = threads, BatchTokens = 512 });
            Console.WriteLine($"model {Path.GetFileName(model)}, {threads} threads, 16 slots × {engine.Info.ContextPerSlot} tokens, " +
                              $"libraries {LlamaNative.LoadedFrom}");
            ParkVersusRecompute(engine);
            Console.WriteLine(SlotGapBenchmark.Run(model, threads));
            var (free, constrained) = ConstrainedDecodeBenchmark.Run(engine);
            Console.WriteLine($"decode batch {ConstrainedDecodeBenchmark.Batch} with sampling: free {free:F1} tok/s, JSON grammar {constrained:F1} tok/s, " +
                              $"ratio {constrained / free:F2} (random weights: the free choice often breaks the grammar, so many tokens need the mask)");
            var bench = new EngineBenchmark(engine, repetitions);
            var bin = PeerBenchmark.FindBin(CommandLineOptions.RepoRoot());
            if (!peer || bin is null)
            {
                bench.Run().ForEach(f => Console.WriteLine($"{f.Name,-44} {f.Value,10:F1} {f.Unit}"));
                Console.WriteLine(peer ? "no llama.cpp peer in .peer/bin: run scripts/build-peer.sh (about 8 minutes) to compare" : "");
                return 0;
            }

            var oursRounds = new List<List<BenchFigure>>();
            var theirRounds = new List<List<BenchFigure>>();
            for (var round = 0; round < rounds; round++)
            {
                Console.Error.WriteLine($"round {round + 1}/{rounds}: ours, then llama.cpp");
                oursRounds.Add(bench.Run());
                theirRounds.Add(PeerBenchmark.Run(bin, model, threads, repetitions));
            }

            var (ours, theirs) = (Medians(oursRounds), Medians(theirRounds));
            Console.WriteLine();
            Console.WriteLine($"{rounds} alternating rounds, each row the median of its rounds (each round: median of {repetitions} repetitions).");
            Console.WriteLine("| measure | ours | llama.cpp | unit | ours / llama.cpp (throughput; time: llama.cpp / ours) |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (var (a, b) in ours.Zip(theirs))
            {
                var ratio = a.HigherIsBetter ? a.Value / b.Value : b.Value / a.Value;
                Console.WriteLine($"| {a.Name} | {a.Value:F1} | {b.Value:F1} | {a.Unit} | {ratio:F2} |");
            }

            return 0;
        }
        catch (EngineLoadException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }
    }

    private static List<BenchFigure> Medians(List<List<BenchFigure>> rounds) =>
        rounds[0].Select((first, row) =>
        {
            var values = rounds.Select(r => r[row].Value).Order().ToList();
            return first with { Value = values[values.Count / 2] };
        }).ToList();

    private static void ParkVersusRecompute(LlamaEngine engine)
    {
        var session = Enumerable.Range(0, 1024).Select(i => 400 + i % 2000).ToArray();
        engine.Truncate(0, 0);
        var recompute = Time(() => EngineBenchmark.Append(engine, 0, session));

        using var buffer = new NativeBuffer(engine.SequenceStateSize(0) + (1 << 20));
        var size = engine.SequenceStateSize(0);
        var park = Time(() =>
        {
            engine.SaveSequence(0, buffer.Span(size));
            engine.Truncate(0, 0);
        });
        var restore = Time(() => engine.LoadSequence(5, buffer.Span(size)));
        Console.WriteLine($"1k-token session: park {park:F2} ms, restore {restore:F2} ms, recompute {recompute:F0} ms " +
                          $"({size / 1e6:F1} MB; restore is {recompute / restore:F0}× faster than recompute)");
    }

    private static double Time(Action action)
    {
        var started = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

}
