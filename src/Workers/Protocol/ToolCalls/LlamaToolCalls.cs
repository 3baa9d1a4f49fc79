namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>
/// Llama 3.1 / 3.2 / 3.3: the answer is the call itself, <c>{"name": "...", "parameters": {...}}</c>, possibly after
/// <c>&lt;|python_tag|&gt;</c>, several separated by <c>;</c>. Output that does not start with a call object is content
/// (while streaming, output that starts with "{" is held until it is known to be a call or not).
/// </summary>
public sealed class LlamaToolCalls : IToolCallParser
{
    private const string PythonTag = "<|python_tag|>";

    public string Name => Scheduler.Contracts.ToolCallFormats.Llama3;

    public IReadOnlyList<string> Markers => [PythonTag];

    public ToolCallSnapshot Parse(string text, OfferedTools tools, bool final)
    {
        var i = JsonScan.SkipSpace(text, 0);
        if (!final && JsonScan.IsGrowingPrefix(text, i, PythonTag))
        {
            return ToolCallSnapshot.Text("");
        }

        if (text.AsSpan(i).StartsWith(PythonTag))
        {
            i = JsonScan.SkipSpace(text, i + PythonTag.Length);
        }

        if (i >= text.Length || text[i] != '{')
        {
            return i >= text.Length && !final ? ToolCallSnapshot.Text("") : ToolCallSnapshot.Text(text);
        }

        var calls = new List<PartialToolCall>();
        while (true)
        {
            var end = JsonScan.EndOfContainer(text, i);
            if (end < 0)
            {
                if (final)
                {
                    return ToolCallSnapshot.Text(text);
                }

                // Only stream the call once it is certain to be one; until then hold the text.
                return new ToolCallSnapshot("", calls);
            }

            var call = JsonScan.Call(text[i..end], "parameters", "arguments");
            if (call is null || !tools.Contains(call.Name))
            {
                return calls.Count == 0 ? ToolCallSnapshot.Text(text) : new ToolCallSnapshot(text[i..], calls);
            }

            calls.Add(call);
            i = JsonScan.SkipSpace(text, end);
            if (i < text.Length && text[i] == ';')
            {
                i = JsonScan.SkipSpace(text, i + 1);
            }

            if (i >= text.Length || text[i] != '{')
            {
                // Text after the calls is content.
                return new ToolCallSnapshot(text[i..], calls);
            }
        }
    }
}
