using System.Diagnostics;
using Serving.Workers.Engine;

namespace Serving.Workers.Benchmarks;

/// <summary>
/// What bridging idle slots saves (<see cref="LlamaEngineOptions.BridgeSlotGaps"/>): one decode step of four sequences
/// in alternate slots, with and without the throwaway tokens in the slots between, against the same four in adjacent
/// slots. Every slot holds a context first, so the bridging tokens pay attention over it as in service.
/// </summary>
public static class SlotGapBenchmark
{
    public const int Slots = 8;
    public const int Context = 1024;
    public const int Steps = 16;
    private static readonly int[] Alternate = [0, 2, 4, 6];
    private static readonly int[] Adjacent = [0, 1, 2, 3];

    public static string Run(string modelPath, int threads)
    {
        var bridged = Measure(modelPath, threads, bridge: true);
        var unbridged = Measure(modelPath, threads, bridge: false);
        return $"decode of 4 sequences in alternate slots (each slot {Context} tokens deep): {bridged.Alternate:F1} ms/step with the gaps bridged, " +
               $"{unbridged.Alternate:F1} ms without ({unbridged.Alternate / bridged.Alternate:F2}×); in adjacent slots {bridged.Adjacent:F1} / {unbridged.Adjacent:F1} ms";
    }

    private static (double Alternate, double Adjacent) Measure(string modelPath, int threads, bool bridge)
    {
        using var engine = LlamaEngine.Load(new LlamaEngineOptions
        {
            ModelPath = modelPath, SlotCount = Slots, ContextPerSlot = 4096, Threads = threads, BridgeSlotGaps = bridge,
        });
        for (var slot = 0; slot < Slots; slot++)
        {
            EngineBenchmark.Append(engine, slot, EngineBenchmark.Tokens(engine, Context, slot));
        }

        return (MedianStepMs(engine, Alternate), MedianStepMs(engine, Adjacent));
    }

    private static double MedianStepMs(IInferenceEngine engine, int[] slots)
    {
        var times = new List<double>();
        for (var step = 0; step < Steps; step++)
        {
            var chunks = slots.Select(s => new SequenceChunk(s, engine.SequenceLength(s), [300 + step], true)).ToList();
            var started = Stopwatch.GetTimestamp();
            EngineBenchmark.Check(engine.Decode(chunks));
            times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        foreach (var slot in slots)
        {
            engine.Truncate(slot, Context);
        }

        return times.Order().ElementAt(times.Count / 2);
    }
}
