namespace Serving.Cache.Parking;

/// <summary>
/// Where a paused session's KV bytes wait while its sequence slot serves others. Every entry carries a checksum
/// that is verified on read: a damaged or lost entry is reported, never returned, so the caller recomputes instead
/// of resuming from wrong state. Synchronous and not thread-safe: owned by the worker's engine thread.
/// </summary>
public interface IParkingStore : IDisposable
{
    /// <summary>Stores a copy of <paramref name="blob"/>; false when it cannot fit even after evicting idler entries.</summary>
    bool TryStore(string entryId, ReadOnlySpan<byte> blob);

    /// <summary>Copies the entry into <paramref name="destination"/> (which must hold <see cref="SizeOf"/> bytes).</summary>
    ParkedReadResult TryRead(string entryId, Span<byte> destination);

    /// <summary>Stored length of the entry, or -1 when it is absent (never stored, removed or evicted).</summary>
    long SizeOf(string entryId);

    void Remove(string entryId);

    ParkingStats Stats { get; }
}

public enum ParkedReadResult { Ok, Missing, ChecksumMismatch, BufferTooSmall }

/// <summary>Occupancy of the tiers; Evictions counts entries pushed down a tier or out of the store.</summary>
public sealed record ParkingStats(
    int HostEntries, long HostBytes, long HostCapacity,
    int DiskEntries, long DiskBytes, long DiskCapacity,
    long SpilledToDisk, long Evicted);
