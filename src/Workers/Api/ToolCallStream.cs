using System.Text;
using Serving.Workers.Runtime;

namespace Serving.Workers.Api;

/// <summary>
/// One streamed answer read as it grows: after each token, the text so far is parsed again and only what is new goes
/// out — reasoning, content that can no longer become a call, a call's name once written, its arguments as they grow. At the end the final parse sends the rest, so the deltas add up to the non-streamed answer.
/// </summary>
internal sealed class ToolCallStream(ToolCallReader reader)
{
    private readonly StringBuilder _text = new();
    private readonly List<int> _argumentsSent = [];
    private int _contentSent;
    private int _reasoningSent;

    public bool CalledTools => _argumentsSent.Count > 0;

    public IEnumerable<object> Append(string delta, ResponseBuilder response)
    {
        _text.Append(delta);
        return Deltas(reader.Read(_text.ToString(), final: false), response);
    }

    public IEnumerable<object> Finish(ResponseBuilder response) => Deltas(reader.Read(_text.ToString(), final: true), response);

    private IEnumerable<object> Deltas(Protocol.ToolCalls.ToolCallSnapshot snapshot, ResponseBuilder response)
    {
        var chunks = new List<object>();
        if (snapshot.Reasoning.Length > _reasoningSent)
        {
            chunks.Add(response.ReasoningChunk(snapshot.Reasoning[_reasoningSent..]));
            _reasoningSent = snapshot.Reasoning.Length;
        }

        if (snapshot.Content.Length > _contentSent)
        {
            chunks.Add(response.ContentChunk(snapshot.Content[_contentSent..]));
            _contentSent = snapshot.Content.Length;
        }

        for (var i = 0; i < snapshot.Calls.Count; i++)
        {
            var call = snapshot.Calls[i];
            if (i == _argumentsSent.Count)
            {
                chunks.Add(response.ToolCallStartChunk(i, call.Name));
                _argumentsSent.Add(0);
            }

            if (call.Arguments.Length > _argumentsSent[i])
            {
                chunks.Add(response.ToolCallArgumentsChunk(i, call.Arguments[_argumentsSent[i]..]));
                _argumentsSent[i] = call.Arguments.Length;
            }
        }

        return chunks;
    }
}
