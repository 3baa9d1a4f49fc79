using System.Text.Json;
using System.Text.RegularExpressions;
using Serving.Gateway.Constraints;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Tests.Unit;

/// <summary>The JSON Schema → GBNF pieces that can be checked without a model.</summary>
public sealed class GrammarBuilderTests
{
    [Theory]
    [InlineData(0L, 100L)]
    [InlineData(-5L, 5L)]
    [InlineData(7L, 1000L)]
    [InlineData(-1000L, -7L)]
    [InlineData(15L, 15L)]
    [InlineData(19L, 301L)]
    [InlineData(null, 42L)]
    [InlineData(-42L, null)]
    public void IntegerRange_MatchesExactlyTheIntegersInRange(long? min, long? max)
    {
        var regex = new Regex("^" + ToRegex(IntegerRangeGrammar.Expression(min, max)) + "$");
        for (var n = -1200; n <= 1200; n++)
        {
            var inside = (min is null || n >= min) && (max is null || n <= max);
            Assert.True(inside == regex.IsMatch(n.ToString(System.Globalization.CultureInfo.InvariantCulture)), $"{n} in [{min}, {max}]: {IntegerRangeGrammar.Expression(min, max)}");
        }

        Assert.DoesNotMatch(regex, "007");
        Assert.DoesNotMatch(regex, "-0");
    }

    [Fact]
    public void Schema_AllOfWithARef_MergesObjects_AndUnknownKeywordsNameTheirPath()
    {
        using var pydantic = JsonDocument.Parse("""
            {"$defs":{"Base":{"type":"object","properties":{"id":{"type":"integer","minimum":1}},"required":["id"]}},
             "type":"object","properties":{"item":{"allOf":[{"$ref":"#/$defs/Base"},{"properties":{"tag":{"type":"string","maxLength":3}}}]}},"required":["item"]}
            """);
        var grammar = JsonSchemaGrammar.ToGbnf(pydantic.RootElement, "schema");
        Assert.Contains("\\\"id\\\"", grammar);
        Assert.Contains("\\\"tag\\\"", grammar);

        using var bad = JsonDocument.Parse("""{"type":"object","properties":{"n":{"type":"number","maximum":3}}}""");
        var error = Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaGrammar.ToGbnf(bad.RootElement, "schema"));
        Assert.Equal("schema.properties.n.maximum", error.Path);
    }

    [Fact]
    public void ToolGrammars_FollowTheModelsFormat_AndFormatsThatCannotBeEnforcedSayWhy()
    {
        using var body = JsonDocument.Parse("""
            {"tools":[{"type":"function","function":{"name":"ls","parameters":{"type":"object","properties":{"p":{"type":"string"}}}}}]}
            """);
        var tools = body.RootElement.GetProperty("tools");
        var hermes = OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "hermes")!.Value;
        Assert.Contains("<tool_call>", hermes.Grammar);
        Assert.Contains("\\\"arguments\\\"", hermes.Grammar);
        var llama = OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "llama3")!.Value;
        Assert.DoesNotContain("<tool_call>", llama.Grammar);
        Assert.Contains("\\\"parameters\\\"", llama.Grammar);
        // "auto": lazy for Hermes (the grammar waits for <tool_call>); Llama 3 has no marker to wait for, so no grammar.
        Assert.Equal("<tool_call>", OutputConstraint.Build(body.RootElement, chat: true, null, tools, "hermes")!.Value.Trigger);
        Assert.Null(OutputConstraint.Build(body.RootElement, chat: true, null, tools, "llama3"));
        var coder = OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "qwen3-coder")!.Value;
        Assert.Contains("<function=ls>", coder.Grammar);
        Assert.Contains("<parameter=p>", coder.Grammar);
        // Mistral: Nemo's list of calls, or Small 3.2's named calls; "auto" waits for [TOOL_CALLS] in both.
        var nemo = OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "mistral")!.Value.Grammar;
        Assert.StartsWith("root ::= \"[TOOL_CALLS][\" item \"]\"", nemo);
        Assert.Contains("\"{\\\"name\\\": \\\"ls\\\", \\\"arguments\\\": \"", nemo);
        var small = OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "mistral-v11")!.Value.Grammar;
        Assert.StartsWith("root ::= item\n", small);
        Assert.Contains("\"[TOOL_CALLS]ls[ARGS]\"", small);
        var parallel = OutputConstraint.Build(body.RootElement, chat: true, null, tools, "mistral")!.Value;
        Assert.Equal("[TOOL_CALLS]", parallel.Trigger);
        Assert.StartsWith("root ::= \"[TOOL_CALLS][\" item (\", \" item)* \"]\"", parallel.Grammar);
        Assert.StartsWith("root ::= item (item)*", OutputConstraint.Build(body.RootElement, chat: true, null, tools, "mistral-v11")!.Value.Grammar);
        // DeepSeek: R1's fenced arguments, V3.1's bare ones, inside the list markers.
        var r1 = OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "deepseek")!.Value.Grammar;
        Assert.StartsWith("root ::= \"<｜tool▁calls▁begin｜>\" item \"<｜tool▁calls▁end｜>\"", r1);
        Assert.Contains("\"<｜tool▁call▁begin｜>function<｜tool▁sep｜>ls\\n```json\\n\"", r1);
        Assert.Contains("\"\\n```<｜tool▁call▁end｜>\"", r1);
        var v31 = OutputConstraint.Build(body.RootElement, chat: true, null, tools, "deepseek-v3.1")!.Value;
        Assert.Equal("<｜tool▁calls▁begin｜>", v31.Trigger);
        Assert.Contains("\"<｜tool▁call▁begin｜>ls<｜tool▁sep｜>\"", v31.Grammar);
        var refused = Assert.Throws<ConstraintException>(() => OutputConstraint.Build(body.RootElement, chat: true, "required", tools, "gpt-oss"));
        Assert.Equal("tool_choice", refused.Param);
        Assert.Contains("gpt-oss", refused.Message);
    }

    [Fact]
    public void EveryFormatNamedEnforced_HasAShape_AndNoOtherDoes()
    {
        // ToolCallFormats.Enforced (shared with the workers, for their 400 message) and ToolCallShape.For are two lists.
        Assert.All(ToolCallFormats.Enforced, format => Assert.Equal(format, ToolCallShape.For(format)?.Format));
        Assert.Null(ToolCallShape.For("gpt-oss"));
    }

    /// <summary>The GBNF subset the range builder writes ("12", [0-9], {n}, groups, |) as a .NET regex.</summary>
    private static string ToRegex(string gbnf) => gbnf.Replace("\"", "").Replace(" ", "");
}
