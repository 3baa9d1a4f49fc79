using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace Serving.Cache.Parking;

/// <summary>
/// A bounded folder of spilled KV blobs, one file each, written with a header (length, checksum, the entry's id) and
/// read back with verification: a file whose id is not the one asked for reads as a mismatch, so one session can never
/// be restored from another's KV even if a file were swapped. File names are 128 random bits (nothing to guess or
/// collide); files are created exclusively, readable only by this user, in a private folder that is emptied of old
/// spill files on start and on shutdown. The only I/O in the cache; synchronous on purpose (12 MB takes 10–50 ms).
/// </summary>
internal sealed class DiskSpillTier : IDisposable
{
    private const string Extension = ".kv";
    private const int FixedHeaderBytes = 8 + 8 + 4; // length, checksum, id byte count
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateFolder = PrivateFile | UnixFileMode.UserExecute;
    private readonly Dictionary<string, (string Path, long Length, long Sequence)> _entries = new(StringComparer.Ordinal);

    public DiskSpillTier(string folder, long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        Folder = Path.GetFullPath(folder);
        Capacity = capacityBytes;
        PrepareFolder(Folder);
    }

    /// <summary>Creates the folder (owner-only) or takes over an existing one, removing spill files a dead process left.</summary>
    private static void PrepareFolder(string folder)
    {
        var info = new DirectoryInfo(folder);
        if (info.Exists && info.LinkTarget is not null)
        {
            throw new IOException($"the spill folder {folder} is a symbolic link; refusing to use it");
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, PrivateFolder);
            File.SetUnixFileMode(folder, PrivateFolder);
        }

        RemoveSpillFiles(folder);
    }

    private static void RemoveSpillFiles(string folder)
    {
        foreach (var stale in Directory.EnumerateFiles(folder, "*" + Extension))
        {
            File.Delete(stale);
        }
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

        var path = Path.Combine(Folder, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)) + Extension);
        var created = false;
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16 };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = PrivateFile;
            }

            using var file = new FileStream(path, options);
            created = true;
            file.Write(Header(id, blob));
            file.Write(blob);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (created)
            {
                File.Delete(path);
            }

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
        var idBytes = Encoding.UTF8.GetBytes(id);
        try
        {
            using var file = new FileStream(entry.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var header = new byte[FixedHeaderBytes + idBytes.Length];
            var target = destination[..(int)entry.Length];
            if (file.Length != header.Length + entry.Length)
            {
                return ParkedReadResult.ChecksumMismatch;
            }

            file.ReadExactly(header);
            if (BitConverter.ToInt64(header) != entry.Length || BitConverter.ToInt32(header, 16) != idBytes.Length
                || !header.AsSpan(FixedHeaderBytes).SequenceEqual(idBytes))
            {
                return ParkedReadResult.ChecksumMismatch; // Another entry's file: never restore it.
            }

            file.ReadExactly(target);
            return XxHash64.HashToUInt64(target) == BitConverter.ToUInt64(header, 8)
                ? ParkedReadResult.Ok
                : ParkedReadResult.ChecksumMismatch;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ParkedReadResult.Missing;
        }
    }

    private static byte[] Header(string id, ReadOnlySpan<byte> blob)
    {
        var idBytes = Encoding.UTF8.GetBytes(id);
        var header = new byte[FixedHeaderBytes + idBytes.Length];
        BitConverter.TryWriteBytes(header, (long)blob.Length);
        BitConverter.TryWriteBytes(header.AsSpan(8), XxHash64.HashToUInt64(blob));
        BitConverter.TryWriteBytes(header.AsSpan(16), idBytes.Length);
        idBytes.CopyTo(header, FixedHeaderBytes);
        return header;
    }

    public string? MostIdle() => _entries.Count == 0 ? null : _entries.MinBy(e => e.Value.Sequence).Key;

    public long SequenceOf(string id) => _entries[id].Sequence;

    internal string PathOf(string id) => _entries[id].Path;

    public void Remove(string id)
    {
        if (_entries.Remove(id, out var entry))
        {
            UsedBytes -= entry.Length;
            try
            {
                File.Delete(entry.Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Forgotten either way: the file is removed with the folder's next cleaning.
            }
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

    public void Dispose()
    {
        foreach (var id in _entries.Keys.ToList())
        {
            Remove(id);
        }

        try
        {
            RemoveSpillFiles(Folder);
            if (!Directory.EnumerateFileSystemEntries(Folder).Any())
            {
                Directory.Delete(Folder);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort at shutdown: the next start cleans the folder again.
        }
    }
}
