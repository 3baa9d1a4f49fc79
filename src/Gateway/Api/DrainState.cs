namespace Serving.Gateway.Api;

/// <summary>Counts requests in flight so shutdown can wait for them; once draining, new requests are refused.</summary>
public sealed class DrainState
{
    private int _inFlight;

    public bool Draining { get; private set; }

    public int InFlight => Volatile.Read(ref _inFlight);

    public IDisposable Enter()
    {
        Interlocked.Increment(ref _inFlight);
        return new Exit(this);
    }

    public void StartDraining() => Draining = true;

    /// <summary>Waits until no request is in flight or the timeout passes.</summary>
    public async Task WaitForIdleAsync(TimeSpan timeout, TimeProvider time)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (InFlight > 0 && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time);
        }
    }

    private sealed class Exit(DrainState state) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                Interlocked.Decrement(ref state._inFlight);
            }
        }
    }
}
