using Serving.Cache.Parking;

namespace Serving.Scheduler.Tests.Cache;

/// <summary>The contract every parking store keeps, run against each tier configuration.</summary>
public abstract class ParkingStoreContractTests : IDisposable
{
    protected readonly string Folder = Directory.CreateTempSubdirectory("serving-park-").FullName;

    protected abstract TieredParkingStore Create();

    private static byte[] Blob(int size, byte seed) => Enumerable.Range(0, size).Select(i => (byte)(i * 31 + seed)).ToArray();

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
