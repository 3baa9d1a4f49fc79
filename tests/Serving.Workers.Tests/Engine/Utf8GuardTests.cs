using Serving.Workers.Engine;

namespace Serving.Workers.Tests.Engine;

/// <summary>The UTF-8 mask in front of grammars: RFC 3629's byte ranges, byte by byte and token by token.</summary>
public sealed class Utf8GuardTests
{
    [Theory]
    [InlineData(new byte[] { 0x41 }, true, true)]
    [InlineData(new byte[] { 0xC3, 0xA9 }, true, true)]               // é
    [InlineData(new byte[] { 0xE2, 0x82 }, true, false)]              // first two bytes of €: valid so far
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98, 0x80 }, true, true)]   // 😀
    [InlineData(new byte[] { 0xC1, 0x81 }, false, false)]             // overlong 'A'
    [InlineData(new byte[] { 0xE0, 0x81, 0x81 }, false, false)]       // overlong
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, false, false)]       // a UTF-16 surrogate
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, false, false)] // beyond U+10FFFF
    [InlineData(new byte[] { 0x80 }, false, false)]                   // continuation without a start
    [InlineData(new byte[] { 0xC3, 0x41 }, false, false)]             // start without its continuation
    public void Utf8State_Extend_FollowsRfc3629(byte[] bytes, bool valid, bool atBoundary)
    {
        var state = default(Utf8State).Extend(bytes);
        Assert.Equal(valid, state.Valid);
        if (valid) Assert.Equal(atBoundary, state.AtBoundary);
    }

    [Fact]
    public void Guard_MidCharacterOnlyFittingContinuations_AtBoundaryNoBrokenStarts()
    {
        // Tokens: 0 "a", 1 <0xC3>, 2 <0xA9>, 3 <0xC1>, 4 <0x41 as part of nothing>, 5 end of generation (no bytes).
        byte[][] pieces = [[0x61], [0xC3], [0xA9], [0xC1], [0x80], []];
        var table = new Utf8TokenTable(pieces.Length, t => pieces[t]);
        using var guard = new Utf8Guard(new AllowAll(), table, t => t == 5);

        var logits = new float[] { 1, 1, 1, 1, 1, 1 };
        guard.Apply(logits);
        Assert.Equal([1, 1, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, 1], logits);

        Assert.True(guard.Allows(0, 1) && guard.Allows(5, 1) && !guard.Allows(2, 1));
        guard.Accept(1); // <0xC3>: now only a continuation byte may follow
        Assert.True(guard.Allows(2, 1) && !guard.Allows(0, 1) && !guard.Allows(5, 1));
        logits = [1, 1, 1, 1, 1, 1];
        guard.Apply(logits);
        Assert.Equal([float.NegativeInfinity, float.NegativeInfinity, 1, float.NegativeInfinity, 1, float.NegativeInfinity], logits);
    }

    [Fact]
    public void Guard_BeforeALazyGrammarsTrigger_FreeText_ThenMasked()
    {
        byte[][] pieces = [[0x61], [0x80], [(byte)'<'], [(byte)'t'], [(byte)'>']];
        var table = new Utf8TokenTable(pieces.Length, t => pieces[t]);
        using var guard = new Utf8Guard(new AllowAll(), table, _ => false, "<t>");
        Assert.True(guard.Allows(1, 1)); // a stray continuation byte is free text's business before the trigger
        foreach (var token in new[] { 0, 2, 3 })
        {
            guard.Accept(token);
        }

        Assert.True(guard.Allows(1, 1));
        guard.Accept(4); // "<t>" complete: the mask applies from here
        Assert.False(guard.Allows(1, 1));
    }

    private sealed class AllowAll : ITokenConstraint
    {
        public bool Allows(int token, float logit) => true;

        public void Apply(Span<float> logits) { }

        public void Accept(int token) { }

        public void Dispose() { }
    }
}
