namespace Serving.Workers.Templates;

/// <summary>A node of a parsed template: statements and expressions share one tree, as in @huggingface/jinja.</summary>
internal abstract record JinjaNode
{
    /// <summary>Direct children, for the walk that finds which macros read <c>kwargs</c> or <c>varargs</c>.</summary>
    public virtual IEnumerable<JinjaNode?> Children => [];
}

internal sealed record TemplateProgram(List<JinjaNode> Body) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Body;
}

/// <summary>Literal text between tags, or a string literal inside one.</summary>
internal sealed record StringLiteral(string Value) : JinjaNode;

internal sealed record IntegerLiteral(long Value) : JinjaNode;

internal sealed record FloatLiteral(double Value) : JinjaNode;

internal sealed record ArrayLiteral(List<JinjaNode> Items) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Items;
}

internal sealed record TupleLiteral(List<JinjaNode> Items) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Items;
}

internal sealed record ObjectLiteral(List<(JinjaNode Key, JinjaNode Value)> Entries) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Entries.SelectMany(e => new[] { e.Key, e.Value });
}

internal sealed record Identifier(string Name) : JinjaNode;

internal sealed record MemberExpression(JinjaNode Target, JinjaNode Property, bool Computed) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Computed ? [Target, Property] : [Target];
}

internal sealed record SliceExpression(JinjaNode? Start, JinjaNode? Stop, JinjaNode? Step) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Start, Stop, Step];
}

internal sealed record CallExpression(JinjaNode Callee, List<JinjaNode> Arguments) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Arguments.Prepend(Callee);
}

internal sealed record KeywordArgument(Identifier Key, JinjaNode Value) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Value];
}

/// <summary><c>*args</c> in a call.</summary>
internal sealed record SpreadArgument(JinjaNode Argument) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Argument];
}

/// <summary><c>**kwargs</c> in a call.</summary>
internal sealed record KeywordSpreadArgument(JinjaNode Argument) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Argument];
}

internal sealed record BinaryExpression(string Operator, JinjaNode Left, JinjaNode Right) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Left, Right];
}

internal sealed record UnaryExpression(string Operator, JinjaNode Argument) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Argument];
}

/// <summary><c>operand | filter</c>; the filter is an <see cref="Identifier"/> or a <see cref="CallExpression"/>.</summary>
internal sealed record FilterExpression(JinjaNode Operand, JinjaNode Filter) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Filter is CallExpression call ? call.Arguments.Prepend(Operand) : [Operand];
}

internal sealed record TestExpression(JinjaNode Operand, bool Negate, string Test) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Operand];
}

/// <summary><c>value if test</c> without an else: undefined when the test fails.</summary>
internal sealed record SelectExpression(JinjaNode Value, JinjaNode Test) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Test, Value];
}

internal sealed record Ternary(JinjaNode Condition, JinjaNode WhenTrue, JinjaNode WhenFalse) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => [Condition, WhenTrue, WhenFalse];
}

internal sealed record IfStatement(JinjaNode Test, List<JinjaNode> Body, List<JinjaNode> Alternate) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Body.Concat(Alternate).Prepend(Test);
}

internal sealed record ForStatement(JinjaNode LoopVariable, JinjaNode Iterable, List<JinjaNode> Body, List<JinjaNode> Else) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Body.Concat(Else).Prepend(Iterable);
}

/// <summary><c>{% set x = value %}</c>, or the block form <c>{% set x %}body{% endset %}</c> when Value is null.</summary>
internal sealed record SetStatement(JinjaNode Assignee, JinjaNode? Value, List<JinjaNode> Body) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Body.Prepend(Value);
}

internal sealed record MacroStatement(string Name, List<JinjaNode> Parameters, List<JinjaNode> Body) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Parameters.OfType<KeywordArgument>().Select(p => p.Value).Concat(Body);
}

/// <summary><c>{% call(params) macro(args) %}body{% endcall %}</c>: the body becomes the macro's <c>caller()</c>.</summary>
internal sealed record CallBlock(CallExpression Call, List<JinjaNode>? CallerParameters, List<JinjaNode> Body) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Body.Prepend(Call);
}

internal sealed record FilterBlock(JinjaNode Filter, List<JinjaNode> Body) : JinjaNode
{
    public override IEnumerable<JinjaNode?> Children => Filter is CallExpression call ? Body.Concat(call.Arguments) : Body;
}

internal sealed record BreakStatement : JinjaNode;

internal sealed record ContinueStatement : JinjaNode;

internal sealed record CommentStatement : JinjaNode;
