using Serving.Cache.Parking;

namespace Serving.Scheduler.Tests.Cache;

/// <summary>The contract every parking store keeps, run against each tier configuration.</summary>
public abstract class ParkingStoreContractTests : IDisposable
{
    protected readonly string Folder = Directory.CreateTempSubdirectory("serving-park-").FullName;

    protected abstract TieredParkingStore Create();

    protected static byte[] Blob(int size, byte seed) => Enumerable.Range(0, size).Select(i => (byte)(i * 31 + seed)).ToArray();

    [Fact]
    public void TryRead_StoredEntry_ReturnsTheSameBytes()
    {
        using var store = Create();
        var blob = Blob(10_000, 3);
        Assert.True(store.TryStore("a", blob));
        var back = new byte[store.SizeOf("a")];
        Assert.Equal(ParkedReadResult.Ok, store.TryRead("a", back));
        Assert.Equal(blob, back);
    }

    [Fact]
    public void TryRead_RemovedOrUnknownEntry_IsMissing()
    {
        using var store = Create();
        store.TryStore("a", Blob(100, 1));
        store.Remove("a");
        Assert.Equal(ParkedReadResult.Missing, store.TryRead("a", new byte[100]));
        Assert.Equal(ParkedReadResult.Missing, store.TryRead("never", new byte[100]));
        Assert.Equal(-1, store.SizeOf("a"));
    }

    [Fact]
    public void TryRead_BufferTooSmall_IsReportedNotTruncated()
    {
        using var store = Create();
        store.TryStore("a", Blob(100, 1));
        Assert.Equal(ParkedReadResult.BufferTooSmall, store.TryRead("a", new byte[99]));
    }

    public void Dispose()
    {
        // The store removes its folder when it leaves it empty.
        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }
    }
}

public sealed class HostTierContractTests : ParkingStoreContractTests
{
    protected override TieredParkingStore Create() => new(new ParkingOptions { HostCapacityBytes = 64 << 10, PageBytes = 4096 });

    [Fact]
    public void TryRead_CorruptedHostEntry_ReportsChecksumMismatch()
    {
        using var store = Create();
        store.TryStore("a", new byte[5000]);
        store.CorruptHostEntryForTest("a");
        Assert.Equal(ParkedReadResult.ChecksumMismatch, store.TryRead("a", new byte[5000]));
    }

    [Fact]
    public void TryStore_HostFullWithoutDisk_EvictsTheMostIdleEntry()
    {
        using var store = Create(); // 16 pages of 4 KiB
        Assert.True(store.TryStore("old", new byte[40_000]));
        Assert.True(store.TryStore("new", new byte[40_000]));
        Assert.Equal(-1, store.SizeOf("old"));
        Assert.Equal(40_000, store.SizeOf("new"));
        Assert.Equal(1, store.Stats.Evicted);
    }
}

public sealed class DiskTierContractTests : ParkingStoreContractTests
{
    // A host pool too small for anything, so every entry goes to disk.
    protected override TieredParkingStore Create() => new(new ParkingOptions { HostCapacityBytes = 0, PageBytes = 4096, DiskFolder = Folder, DiskCapacityBytes = 1 << 20 });

    [Fact]
    public void TryRead_CorruptedSpillFile_ReportsChecksumMismatch()
    {
        using var store = Create();
        store.TryStore("a", new byte[5000]);
        var path = store.DiskPathForTest("a");
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        Assert.Equal(ParkedReadResult.ChecksumMismatch, store.TryRead("a", new byte[5000]));
    }

    [Fact]
    public void TryRead_FileOfAnotherEntryInItsPlace_ReadsAsMismatchNeverAsTheOtherSessionsKv()
    {
        using var store = Create();
        store.TryStore("kv:tenant:a", Blob(5000, 1));
        store.TryStore("kv:tenant:b", Blob(5000, 2));
        // Whatever puts a's file where b's is expected (a name collision, a swap): b must not read a's KV.
        File.Copy(store.DiskPathForTest("kv:tenant:a"), store.DiskPathForTest("kv:tenant:b"), overwrite: true);
        Assert.Equal(ParkedReadResult.ChecksumMismatch, store.TryRead("kv:tenant:b", new byte[5000]));
        var back = new byte[5000];
        Assert.Equal(ParkedReadResult.Ok, store.TryRead("kv:tenant:a", back));
        Assert.Equal(Blob(5000, 1), back);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void SpillFiles_PrivateToTheUser_WithRandomNames()
    {
        using var first = Create();
        first.TryStore("kv:s", Blob(100, 1));
        var path = first.DiskPathForTest("kv:s");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Folder));
        Assert.Equal(32, Path.GetFileNameWithoutExtension(path).Length); // 128 random bits in hex
        first.TryStore("kv:s", Blob(100, 2));
        Assert.NotEqual(path, first.DiskPathForTest("kv:s")); // nothing derived from the id
    }

    [Fact]
    public void SpillFolder_StaleFilesRemovedOnStart_AndEmptiedOnShutdown()
    {
        Directory.CreateDirectory(Folder);
        var stale = Path.Combine(Folder, "0123456789abcdef0123456789abcdef.kv");
        File.WriteAllBytes(stale, new byte[10]);
        var store = Create();
        Assert.False(File.Exists(stale));
        store.TryStore("kv:s", Blob(100, 1));
        store.Dispose();
        Assert.False(Directory.Exists(Folder));
    }

    [Fact]
    public void TryStore_HostFull_SpillsTheMostIdleHostEntryToDisk()
    {
        using var store = new TieredParkingStore(new ParkingOptions { HostCapacityBytes = 16 << 10, PageBytes = 4096, DiskFolder = Folder, DiskCapacityBytes = 1 << 20 });
        var first = new byte[12_000];
        first[0] = 42;
        store.TryStore("first", first);
        store.TryStore("second", new byte[12_000]);
        Assert.Equal((1, 1, 1L), (store.Stats.HostEntries, store.Stats.DiskEntries, store.Stats.SpilledToDisk));
        var back = new byte[12_000];
        Assert.Equal(ParkedReadResult.Ok, store.TryRead("first", back));
        Assert.Equal(42, back[0]);
    }
}
