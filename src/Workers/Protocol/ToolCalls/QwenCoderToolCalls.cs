using System.Text;
using System.Text.Json;

namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Qwen3-Coder's XML style: <c>&lt;tool_call&gt;&lt;function=NAME&gt;&lt;parameter=KEY&gt;VALUE&lt;/parameter&gt;...&lt;/function&gt;&lt;/tool_call&gt;</c>.
/// Values are raw text; a parameter declared as a string stays a string, other values are read as JSON when they
/// are JSON (numbers, booleans, objects), as Qwen's own parser does.
/// </summary>
public sealed class QwenCoderToolCalls : DelimitedToolCallParser
{
    private const string Function = "<function=";
    private const string EndFunction = "</function>";
    private const string Parameter = "<parameter=";
    private const string EndParameter = "</parameter>";

    public override string Name => Scheduler.Contracts.ToolCallFormats.QwenCoder;

    protected override string Open => ToolCallFormat.Open;

    protected override string? Close => ToolCallFormat.Close;

    public override IReadOnlyList<string> Markers => [];

    protected override Block ReadBlock(string text, int start, OfferedTools tools)
    {
        var i = JsonScan.SkipSpace(text, start);
        if (JsonScan.IsGrowingPrefix(text, i, Function))
        {
            return Block.Incomplete([]);
        }

        if (!text.AsSpan(i).StartsWith(Function))
        {
            return Block.Invalid;
        }

        var nameEnd = text.IndexOf('>', i + Function.Length);
        if (nameEnd < 0)
        {
            return Block.Incomplete([]);
        }

        var name = text[(i + Function.Length)..nameEnd].Trim();
        var arguments = new StringBuilder("{");
        var position = nameEnd + 1;
        while (true)
        {
            var j = JsonScan.SkipSpace(text, position);
            if (text.AsSpan(j).StartsWith(EndFunction))
            {
                return new Block([new PartialToolCall(name, arguments.Append('}').ToString(), true)], j + EndFunction.Length, true);
            }

            if (JsonScan.IsGrowingPrefix(text, j, EndFunction) || JsonScan.IsGrowingPrefix(text, j, Parameter))
            {
                return Block.Incomplete([new PartialToolCall(name, arguments.ToString(), false)]);
            }

            if (!text.AsSpan(j).StartsWith(Parameter))
            {
                return Block.Invalid;
            }

            var keyEnd = text.IndexOf('>', j + Parameter.Length);
            var valueEnd = keyEnd < 0 ? -1 : text.IndexOf(EndParameter, keyEnd + 1, StringComparison.Ordinal);
            if (valueEnd < 0)
            {
                return Block.Incomplete([new PartialToolCall(name, arguments.ToString(), false)]);
            }

            var key = text[(j + Parameter.Length)..keyEnd].Trim();
            var value = text[(keyEnd + 1)..valueEnd];
            value = value.StartsWith('\n') ? value[1..] : value;
            value = value.EndsWith('\n') ? value[..^1] : value;
            arguments.Append(arguments.Length > 1 ? ", " : "").Append(JsonSerializer.Serialize(key)).Append(": ")
                .Append(JsonValue(value, tools.ParameterType(name, key)));
            position = valueEnd + EndParameter.Length;
        }
    }

    private static string JsonValue(string value, string? declaredType)
    {
        if (declaredType != "string" && JsonScan.IsValid(value))
        {
            return value.Trim();
        }

        return JsonSerializer.Serialize(value, Scheduler.Contracts.GenerateCall.JsonOptions);
    }
}
