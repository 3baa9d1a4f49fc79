using Serving.Workers.Engine;
using Serving.Workers.Tests.Support;

namespace Serving.Workers.Tests.Engine;

/// <summary>llama.cpp's grammar sampler through our binding, on the tiny model's vocabulary.</summary>
public sealed class GrammarTests(TinyModelFixture model) : IClassFixture<TinyModelFixture>
{
    private const string Call = """root ::= "<tool_call>" [a-z]+ "</tool_call>" """;

    [Fact]
    public void Grammar_Malformed_IsNullWithLlamasMessage_NotACrash()
    {
        using var engine = model.Load(slots: 1);
        Assert.Null(engine.CreateGrammar("root ::= (\"a\" | ", null, out var unclosed));
        Assert.Null(engine.CreateGrammar("start ::= \"a\"", null, out var noRoot));
        Assert.Null(engine.CreateGrammar("root ::= undefined-rule", null, out var undefined));
        // llama.cpp logs this line; its parser's detail goes to stderr, which the worker's log keeps.
        Assert.Equal(("failed to parse grammar", "grammar does not contain a 'root' symbol", "failed to parse grammar"), (unclosed, noRoot, undefined));
    }

    [Fact]
    public void Grammar_MasksWhatCannotComeNext()
    {
        using var engine = model.Load(slots: 1);
        using var grammar = engine.CreateGrammar(Call, null, out _)!;
        var (open, letter, upper) = (Single(engine, "<"), Single(engine, "x"), Single(engine, "X"));
        Assert.True(grammar.Allows(open, 0f));
        Assert.False(grammar.Allows(letter, 0f));

        var logits = new float[engine.Info.VocabSize];
        grammar.Apply(logits);
        Assert.Equal(0f, logits[open]);
        Assert.True(float.IsNegativeInfinity(logits[letter]) && float.IsNegativeInfinity(logits[upper]));
    }

    [Fact]
    public void LazyGrammar_FreeUntilTheTrigger_ThenConstrained()
    {
        using var engine = model.Load(slots: 1);
        using var grammar = engine.CreateGrammar(Call, "<tool_call>", out _)!;
        var (letter, upper) = (Single(engine, "x"), Single(engine, "X"));
        Assert.True(grammar.Allows(upper, 0f)); // nothing constrained yet

        foreach (var token in engine.Tokenize("Sure. <tool_call>", addBos: false))
        {
            Assert.True(grammar.Allows(token, 0f));
            grammar.Accept(token);
        }

        Assert.True(grammar.Allows(letter, 0f));
        Assert.False(grammar.Allows(upper, 0f));
    }

    /// <summary>The token whose piece is exactly <paramref name="text"/> (tokenizing would add SentencePiece's leading space).</summary>
    private static int Single(IInferenceEngine engine, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return Enumerable.Range(0, engine.Info.VocabSize).First(t => engine.TokenBytes(t).AsSpan().SequenceEqual(bytes));
    }
}
