using System.Threading.Channels;

namespace Serving.Workers.Runtime;

/// <summary>The engine thread's view of one request: sampling state, text assembly and the channel to its reader.</summary>
internal sealed class ActiveRequest(GenerationRequest request, string sessionKey, DateTimeOffset arrival)
{
    /// <summary>
    /// The turn's grammar when its output is constrained: built by the request thread, then used and disposed on the
    /// engine thread (when the turn finishes or is refused).
    /// </summary>
    public Engine.ITokenConstraint? Constraint { get; init; }

    public GenerationRequest Request { get; } = request;

    /// <summary>The session key given to the scheduler (one-shot requests get a private one).</summary>
    public string SessionKey { get; } = sessionKey;

    public DateTimeOffset Arrival { get; } = arrival;

    /// <summary>Unbounded, but holds at most max_tokens + 1 events: the engine thread must never wait on a slow reader.</summary>
    public Channel<GenerationEvent> Events { get; } = Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public TokenSampler Sampler { get; } = new(request.Sampling);

    public TextAssembler Text { get; } = new(request.Stop);

    public int? CachedTokens { get; set; }

    public int Generated { get; set; }

    public DateTimeOffset? FirstScheduled { get; set; }

    public DateTimeOffset? LastTokenAt { get; set; }

    public bool RestoredFromStore { get; set; }

    /// <summary>The session came back from a pause (its turn ended one here earlier).</summary>
    public bool Returning { get; set; }

    /// <summary>
    /// Set by the request thread when its client leaves, before the cancel command is sent: a submit still queued
    /// behind the command is then never started (commands and submits travel on different channels).
    /// </summary>
    public volatile bool CancelRequested;

    public bool Finished { get; set; }
}
