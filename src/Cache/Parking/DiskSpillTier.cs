using System.IO.Hashing;

namespace Serving.Cache.Parking;

/// <summary>
/// A bounded folder of spilled KV blobs, one file each, written with a small header (length, checksum) and read back
/// with verification. The only I/O in the cache; synchronous on purpose (12 MB takes 10–50 ms, once per spill).
/// </summary>
internal sealed class DiskSpillTier : IDisposable
{
    private const int HeaderBytes = 16;
    private readonly Dictionary<string, (string Path, long Length, long Sequence)> _entries = new(StringComparer.Ordinal);

    public DiskSpillTier(string folder, long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        Folder = Path.GetFullPath(folder);
        Capacity = capacityBytes;
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public long Capacity { get; }

    public long UsedBytes { get; private set; }

    public int Count => _entries.Count;

    public bool Contains(string id) => _entries.ContainsKey(id);

    public long SizeOf(string id) => _entries.TryGetValue(id, out var e) ? e.Length : -1;

    public bool Fits(long length) => length <= Capacity;

    public bool HasRoomFor(long length) => UsedBytes + length <= Capacity;

    public bool TryStore(string id, ReadOnlySpan<byte> blob, long sequence)
    {
        Remove(id);
        if (!HasRoomFor(blob.Length))
        {
            return false;
        }

        var path = Path.Combine(Folder, FileNameOf(id));
        try
        {
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            Span<byte> header = stackalloc byte[HeaderBytes];
            BitConverter.TryWriteBytes(header, (long)blob.Length);
            BitConverter.TryWriteBytes(header[8..], XxHash64.HashToUInt64(blob));
            file.Write(header);
            file.Write(blob);
        }
        catch (IOException)
        {
            File.Delete(path);
            return false;
        }

        _entries[id] = (path, blob.Length, sequence);
        UsedBytes += blob.Length;
        return true;
    }

    /// <summary>Reads a present entry into a large enough buffer (the tiered store checks both first).</summary>
    public ParkedReadResult Read(string id, Span<byte> destination)
    {
        var entry = _entries[id];

        try
        {
            using var file = new FileStream(entry.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Span<byte> header = stackalloc byte[HeaderBytes];
            file.ReadExactly(header);
            var target = destination[..(int)entry.Length];
            if (BitConverter.ToInt64(header) != entry.Length || file.Length != HeaderBytes + entry.Length)
            {
                return ParkedReadResult.ChecksumMismatch;
            }

            file.ReadExactly(target);
            return XxHash64.HashToUInt64(target) == BitConverter.ToUInt64(header[8..])
                ? ParkedReadResult.Ok
                : ParkedReadResult.ChecksumMismatch;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ParkedReadResult.Missing;
        }
    }

    public string? MostIdle() => _entries.Count == 0 ? null : _entries.MinBy(e => e.Value.Sequence).Key;

    public long SequenceOf(string id) => _entries[id].Sequence;

    internal string PathOf(string id) => _entries[id].Path;

    public void Remove(string id)
    {
        if (_entries.Remove(id, out var entry))
        {
            UsedBytes -= entry.Length;
            File.Delete(entry.Path);
        }
    }

    public IEnumerable<string> CheckInvariants()
    {
        if (UsedBytes != _entries.Values.Sum(e => e.Length))
        {
            yield return "disk bytes accounting drifted";
        }

        if (UsedBytes > Capacity)
        {
            yield return $"disk tier over capacity: {UsedBytes} > {Capacity}";
        }
    }

    /// <summary>Ids come from session keys; hashing them keeps file names safe and fixed-length.</summary>
    private static string FileNameOf(string id) => $"{XxHash64.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(id)):x16}.kv";

    public void Dispose()
    {
        foreach (var id in _entries.Keys.ToList())
        {
            Remove(id);
        }
    }
}
