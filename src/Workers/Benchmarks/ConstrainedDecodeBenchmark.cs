using System.Diagnostics;
using Serving.Workers.Engine;
using Serving.Workers.Runtime;

namespace Serving.Workers.Benchmarks;

/// <summary>
/// Decode throughput with sampling, free and under a JSON grammar (one per sequence), batch 8, greedy: the price of
/// constrained decoding in the step loop. On a random-weight model the free argmax often breaks the grammar, so many
/// tokens take the mask path: a worse case than a real model's. A sequence whose grammar is complete starts a new one.
/// </summary>
public static class ConstrainedDecodeBenchmark
{
    public const int Batch = 8;
    private const int Steps = 48;

    /// <summary>llama.cpp's grammars/json.gbnf.</summary>
    public const string JsonGrammar = """
root ::= object
value ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? "}" ws
array ::= "[" ws ( value ( "," ws value )* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
""";

    public static (double FreeTokensPerSecond, double ConstrainedTokensPerSecond) Run(IInferenceEngine engine) =>
        (TokensPerSecond(engine, constrained: false), TokensPerSecond(engine, constrained: true));

    private static double TokensPerSecond(IInferenceEngine engine, bool constrained)
    {
        var logits = new float[engine.Info.VocabSize];
        var samplers = Enumerable.Range(0, Batch).Select(_ => new TokenSampler(SamplingOptions.Greedy)).ToArray();
        var grammars = new ITokenConstraint?[Batch];
        var next = new int[Batch];
        for (var s = 0; s < Batch; s++)
        {
            engine.Truncate(s, 0);
            var prompt = EngineBenchmark.Tokens(engine, EngineBenchmark.DecodePrompt, s);
            EngineBenchmark.Check(engine.Decode([new SequenceChunk(s, 0, prompt, false)]));
            next[s] = 500 + s;
            grammars[s] = constrained ? engine.CreateGrammar(JsonGrammar, null, out var error) ?? throw new InvalidOperationException($"the JSON grammar did not parse: {error}") : null;
        }

        var started = Stopwatch.GetTimestamp();
        for (var step = 0; step < Steps; step++)
        {
            EngineBenchmark.Check(engine.Decode(Enumerable.Range(0, Batch).Select(s => new SequenceChunk(s, engine.SequenceLength(s), [next[s]], true)).ToList()));
            for (var s = 0; s < Batch; s++)
            {
                engine.CopyLogits(s, logits);
                if (grammars[s] is not { } grammar)
                {
                    next[s] = samplers[s].Sample(logits);
                    continue;
                }

                next[s] = ConstrainedSampler.Sample(samplers[s], grammar, logits, engine.IsEndOfGeneration);
                if (engine.IsEndOfGeneration(next[s]))
                {
                    grammar.Dispose();
                    grammars[s] = engine.CreateGrammar(JsonGrammar, null, out _);
                    next[s] = 500 + s;
                }
            }
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        foreach (var grammar in grammars)
        {
            grammar?.Dispose();
        }

        return Batch * Steps / seconds;
    }
}
