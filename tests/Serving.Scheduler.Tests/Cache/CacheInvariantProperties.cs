using FsCheck;
using FsCheck.Xunit;
using Serving.Cache.Blocks;
using Serving.Cache.Parking;
using Serving.Cache.Prefix;
using Serving.Scheduler.Contracts;
using Serving.Scheduler.Tests.Support;

namespace Serving.Scheduler.Tests.Cache;

/// <summary>Random operation sequences; the invariants must hold after every single operation.</summary>
public sealed class CacheInvariantProperties
{
    [Property(MaxTest = 300)]
    public void BlockPool_RandomAllocateShareRelease_FreePlusUsedIsTotal(int seed)
    {
        var random = new Random(seed);
        var pool = new BlockPool(64, 16);
        var held = new List<List<int>>();
        for (var op = 0; op < 50; op++)
        {
            switch (random.Next(3))
            {
                case 0:
                    var blocks = new List<int>();
                    var before = pool.FreeBlocks;
                    var n = random.Next(0, 20);
                    Assert.Equal(n <= before, pool.TryAllocate(n, blocks));
                    if (blocks.Count > 0) held.Add(blocks);
                    break;
                case 1 when held.Count > 0:
                    var shared = held[random.Next(held.Count)];
                    shared.ForEach(pool.AddRef);
                    held.Add([.. shared]);
                    break;
                case 2 when held.Count > 0:
                    var i = random.Next(held.Count);
                    pool.Release(held[i]);
                    held.RemoveAt(i);
                    break;
            }

            Assert.Empty(pool.CheckInvariants());
        }
    }

    [Property(MaxTest = 100)]
    public void ParkingStore_RandomStoreReadRemove_TiersWithinBoundsAndReadsExact(int seed)
    {
        var random = new Random(seed);
        var folder = Directory.CreateTempSubdirectory("serving-prop-").FullName;
        try
        {
            using var store = new TieredParkingStore(new ParkingOptions { HostCapacityBytes = 32 << 10, PageBytes = 4096, DiskFolder = folder, DiskCapacityBytes = 64 << 10 });
            var contents = new Dictionary<string, byte[]>();
            for (var op = 0; op < 40; op++)
            {
                var id = "e" + random.Next(8);
                if (random.Next(3) > 0)
                {
                    var blob = new byte[random.Next(1, 30_000)];
                    random.NextBytes(blob);
                    if (store.TryStore(id, blob)) contents[id] = blob; else contents.Remove(id);
                }
                else
                {
                    store.Remove(id);
                    contents.Remove(id);
                }

                Assert.Empty(store.CheckInvariants());
                Assert.True(store.Stats.HostBytes <= store.Stats.HostCapacity && store.Stats.DiskBytes <= store.Stats.DiskCapacity);
                foreach (var (key, expected) in contents.ToList())
                {
                    var buffer = new byte[expected.Length];
                    var result = store.TryRead(key, buffer);
                    // Evicted entries may be missing; whatever is read back must be exact.
                    if (result == ParkedReadResult.Ok) Assert.Equal(expected, buffer); else Assert.Equal(ParkedReadResult.Missing, result);
                }
            }
        }
        finally
        {
            if (Directory.Exists(folder)) // the store removes its folder when it leaves it empty
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Property(MaxTest = 200)]
    public void Scheduler_RandomSessionsTurnsAndTime_SlotsBlocksAndSessionsAgree(int seed)
    {
        var random = new Random(seed);
        var policy = PausePolicies.All[Math.Abs(seed % PausePolicies.All.Count)];
        var h = new SchedulerHarness(new SchedulerOptions { PausePolicy = policy, MaxBatchTokens = 128 }, slots: 3, contextPerSlot: 512, batch: 128);
        var core = (Serving.Scheduler.Core.AgentScheduler)h.Scheduler;
        var prompts = new Dictionary<string, List<int>>();
        for (var op = 0; op < 60; op++)
        {
            var session = "s" + random.Next(5);
            switch (random.Next(5))
            {
                case 0 or 1:
                    // Every session starts with the same 80-token system prompt, in one scope: prefixes get shared.
                    var prompt = prompts.GetValueOrDefault(session) ?? [.. SchedulerHarness.Tokens(80, 5)];
                    prompt.AddRange(SchedulerHarness.Tokens(random.Next(1, 60), random.Next(1000)));
                    prompts[session] = prompt.Count > 400 ? prompt[..90] : prompt;
                    h.Submit($"r{op}", session, [.. prompts[session]], maxNew: random.Next(1, 5), final: random.Next(6) == 0, scope: "tenant");
                    break;
                case 2:
                    h.Scheduler.Cancel($"r{op - random.Next(1, 5)}");
                    break;
                case 3:
                    h.Time.Advance(TimeSpan.FromMilliseconds(random.Next(0, 3000)));
                    break;
                default:
                    h.Step();
                    break;
            }

            Assert.Empty(core.CheckInvariants());
        }
    }

    [Fact]
    public void PrefixHash_DifferentSalt_NeverMatchesWholeBlocks()
    {
        var tokens = SchedulerHarness.Tokens(64);
        Assert.NotEqual(PrefixHash.Chain(tokens, 16, PrefixHash.Salt("tenant-a")), PrefixHash.Chain(tokens, 16, PrefixHash.Salt("tenant-b")));
        var chain = PrefixHash.Chain(tokens, 16, 1);
        Assert.Equal(40, PrefixHash.CommonPrefix(tokens, chain, [.. tokens[..40], 1, 2, 3], 16, 1));
    }
}
