using System.Diagnostics;
using Serving.Workers.Engine;
using Serving.Workers.Models;
using Serving.Workers.Native;

namespace Serving.Workers.Commands;

/// <summary>
/// <c>bench [--model PATH] [--threads N]</c>: measures the real engine on the 125M model — prefill, batched decode,
/// and parking a 1k-token session against recomputing it. Prints numbers; asserts nothing.
/// </summary>
internal static class BenchCommand
{
    public static int Run(string[] args)
    {
        var o = CommandLineOptions.Parse(args, ["model", "threads"]);
        var threads = o.GetInt("threads", Environment.ProcessorCount, 1, 256);
        if (o.Errors.Count > 0)
        {
            o.Errors.ForEach(e => Console.Error.WriteLine($"error: {e}"));
            return 2;
        }

        var model = o.Values.GetValueOrDefault("model") ?? ModelGenerator.EnsureModel(ModelKind.Base125M, Path.Combine(RepoRoot(), ".models", "base125m.gguf"));
        try
        {
            using var engine = LlamaEngine.Load(new LlamaEngineOptions { ModelPath = model, SlotCount = 16, ContextPerSlot = 2048, Threads = threads, BatchTokens = 512 });
            Console.WriteLine($"model {Path.GetFileName(model)}, {threads} threads, 16 slots × {engine.Info.ContextPerSlot} tokens");
            var prompt = Enumerable.Range(0, 512).Select(i => 300 + i % 1000).ToArray();
            var prefill = Time(() => engine.Decode([new SequenceChunk(0, 0, prompt, true)]));
            Console.WriteLine($"prefill   512 tokens: {prefill:F0} ms  ({512 / prefill * 1000:F0} tok/s)");
            engine.Truncate(0, 0);
            foreach (var batch in new[] { 1, 4, 16 })
            {
                var stepMs = DecodeSteps(engine, batch, steps: 16);
                Console.WriteLine($"decode batch {batch,2}: {stepMs:F1} ms/step  ({batch * 1000 / stepMs:F0} tok/s aggregate)");
            }

            ParkVersusRecompute(engine);
            return 0;
        }
        catch (EngineLoadException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }
    }

    private static double DecodeSteps(LlamaEngine engine, int batch, int steps)
    {
        for (var s = 0; s < batch; s++)
        {
            engine.Truncate(s, 0);
            engine.Decode([new SequenceChunk(s, 0, Enumerable.Range(0, 128).Select(i => 500 + i + s).ToArray(), false)]);
        }

        var total = 0.0;
        for (var step = 0; step < steps; step++)
        {
            var chunks = Enumerable.Range(0, batch).Select(s => new SequenceChunk(s, engine.SequenceLength(s), [700 + step], true)).ToList();
            total += Time(() => engine.Decode(chunks));
        }

        return total / steps;
    }

    private static void ParkVersusRecompute(LlamaEngine engine)
    {
        var session = Enumerable.Range(0, 1024).Select(i => 400 + i % 2000).ToArray();
        engine.Truncate(0, 0);
        var recompute = 0.0;
        for (var start = 0; start < session.Length; start += 512)
        {
            var chunk = session[start..Math.Min(start + 512, session.Length)];
            recompute += Time(() => engine.Decode([new SequenceChunk(0, start, chunk, start + 512 >= session.Length)]));
        }

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

    private static double Time(Func<DecodeStatus> decode)
    {
        var started = Stopwatch.GetTimestamp();
        var status = decode();
        if (status != DecodeStatus.Ok)
        {
            throw new InvalidOperationException($"decode failed: {status}");
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Serving.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
