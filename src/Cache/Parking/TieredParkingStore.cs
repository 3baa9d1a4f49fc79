using System.Diagnostics;

namespace Serving.Cache.Parking;

/// <summary>Sizes of the parking tiers. A zero disk capacity (or no folder) disables spilling.</summary>
public sealed record ParkingOptions
{
    public long HostCapacityBytes { get; init; } = 512L << 20;

    public int PageBytes { get; init; } = 1 << 20;

    public string? DiskFolder { get; init; }

    public long DiskCapacityBytes { get; init; }

    public IEnumerable<string> Validate()
    {
        if (HostCapacityBytes < 0) yield return "HostCapacityBytes must be >= 0";
        if (PageBytes is < 4096 or > 64 << 20) yield return "PageBytes must be 4 KiB..64 MiB";
        if (DiskCapacityBytes < 0) yield return "DiskCapacityBytes must be >= 0";
        if (DiskCapacityBytes > 0 && string.IsNullOrWhiteSpace(DiskFolder)) yield return "DiskFolder is required when DiskCapacityBytes > 0";
    }
}

/// <summary>
/// Host memory first, disk when host memory is full, and out of the store when both are: each time room is needed the
/// most idle entry (parked longest ago) moves one tier down. An evicted entry reads back as Missing, which the
/// scheduler turns into a recompute.
/// </summary>
public sealed class TieredParkingStore : IParkingStore
{
    private readonly HostMemoryTier _host;
    private readonly DiskSpillTier? _disk;
    private long _sequence;
    private long _spilled;
    private long _evicted;

    public TieredParkingStore(ParkingOptions options)
    {
        var errors = options.Validate().ToList();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid parking options: " + string.Join("; ", errors), nameof(options));
        }

        _host = new HostMemoryTier(options.HostCapacityBytes, options.PageBytes);
        _disk = options.DiskCapacityBytes > 0 ? new DiskSpillTier(options.DiskFolder!, options.DiskCapacityBytes) : null;
    }

    public ParkingStats Stats => new(
        _host.Count, _host.UsedBytes, _host.Capacity,
        _disk?.Count ?? 0, _disk?.UsedBytes ?? 0, _disk?.Capacity ?? 0,
        _spilled, _evicted);

    public bool TryStore(string entryId, ReadOnlySpan<byte> blob)
    {
        Remove(entryId);
        var sequence = ++_sequence;
        var stored = _host.PagesFor(blob.Length) <= _host.PageCount && MakeHostRoom(blob.Length)
            ? _host.TryStore(entryId, blob, sequence)
            : _disk is not null && _disk.Fits(blob.Length) && MakeDiskRoom(blob.Length) && _disk.TryStore(entryId, blob, sequence);
        AssertInvariants();
        return stored;
    }

    public ParkedReadResult TryRead(string entryId, Span<byte> destination)
    {
        var size = SizeOf(entryId);
        if (size < 0)
        {
            return ParkedReadResult.Missing;
        }

        if (destination.Length < size)
        {
            return ParkedReadResult.BufferTooSmall;
        }

        return _host.Contains(entryId) ? _host.Read(entryId, destination) : _disk!.Read(entryId, destination);
    }

    public long SizeOf(string entryId) => _host.Contains(entryId) ? _host.SizeOf(entryId) : _disk?.SizeOf(entryId) ?? -1;

    public void Remove(string entryId)
    {
        _host.Remove(entryId);
        _disk?.Remove(entryId);
    }

    /// <summary>Every invariant of both tiers, for property tests (empty when all hold).</summary>
    public IEnumerable<string> CheckInvariants() => _host.CheckInvariants().Concat(_disk?.CheckInvariants() ?? []);

    internal void CorruptHostEntryForTest(string id) => _host.CorruptForTest(id);

    internal string DiskPathForTest(string id) => _disk!.PathOf(id);

    public void Dispose()
    {
        _host.Dispose();
        _disk?.Dispose();
    }

    private bool MakeHostRoom(long length)
    {
        while (!_host.HasRoomFor(length))
        {
            var victim = _host.MostIdle();
            if (victim is null)
            {
                return false;
            }

            SpillToDisk(victim);
        }

        return true;
    }

    private void SpillToDisk(string id)
    {
        var length = _host.SizeOf(id);
        if (_disk is not null && _disk.Fits(length) && MakeDiskRoom(length))
        {
            var buffer = new byte[length];
            if (_host.Read(id, buffer) == ParkedReadResult.Ok && _disk.TryStore(id, buffer, _host.SequenceOf(id)))
            {
                _spilled++;
                _host.Remove(id);
                return;
            }
        }

        _evicted++;
        _host.Remove(id);
    }

    private bool MakeDiskRoom(long length)
    {
        while (!_disk!.HasRoomFor(length))
        {
            var victim = _disk.MostIdle();
            if (victim is null)
            {
                return false;
            }

            _evicted++;
            _disk.Remove(victim);
        }

        return true;
    }

    /// <summary>The cheap checks after every store in debug builds; property tests run the thorough ones.</summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        var problems = _host.CheckInvariants(thorough: false).Concat(_disk?.CheckInvariants() ?? []).ToList();
        Debug.Assert(problems.Count == 0, string.Join("; ", problems));
    }
}
