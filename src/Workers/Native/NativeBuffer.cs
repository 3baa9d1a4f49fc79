using System.Runtime.InteropServices;

namespace Serving.Workers.Native;

/// <summary>
/// Pre-allocated, pre-faulted, 64-byte aligned native memory. Parking a 1k-token sequence into a fresh managed
/// array costs 50–80 ms (LOH allocation, page faults, gen-2 GCs) against 0.5 ms into memory like this
/// (llama-native-notes §4), so park/restore staging always goes through one of these.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    private byte* _memory;

    public NativeBuffer(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Allocate(capacity);
    }

    public long Capacity { get; private set; }

    public Span<byte> Span(long length)
    {
        ObjectDisposedException.ThrowIf(_memory is null, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Capacity);
        return new Span<byte>(_memory, checked((int)length));
    }

    /// <summary>Grows (never shrinks) to at least <paramref name="capacity"/>; contents are not kept.</summary>
    public void EnsureCapacity(long capacity)
    {
        if (capacity <= Capacity)
        {
            return;
        }

        Free();
        Allocate(capacity);
    }

    public void Dispose() => Free();

    private void Allocate(long capacity)
    {
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 64);
        // Touch every page now so the first park does not pay the page faults.
        new Span<byte>(_memory, checked((int)capacity)).Clear();
        Capacity = capacity;
    }

    private void Free()
    {
        if (_memory is not null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
            Capacity = 0;
        }
    }
}
