using Serving.Cache.Prefix;
using Serving.Scheduler.Contracts;
using Serving.Scheduler.Core;
using Serving.Scheduler.Residency;

namespace Serving.Scheduler.Tests.Residency;

/// <summary>The KV bookkeeping on its own: which ops it records and what it says each session holds afterwards.</summary>
public sealed class KvResidencyTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static SessionState Session(string key, string scope = "tenant") => new(key, PrefixHash.Salt(scope), Now);

    private static int[] Tokens(int count, int start = 100) => Enumerable.Range(start, count).ToArray();

    [Fact]
    public void Load_ParkedSessionReturnsWithALongerPrompt_RestoresAndComputesOnlyTheNewTokens()
    {
        var kv = new KvResidency(slots: 2, contextPerSlot: 1024, blockSize: 16);
        var a = Session("a");
        Assert.Equal(0, kv.Load(a, 0, Tokens(100)));
        kv.Append(a, Tokens(100));
        kv.Evict(a, park: true);
        Assert.Equal([new ParkOp("a", 0, "kv:a")], kv.TakeOps());

        var cached = kv.Load(a, 1, Tokens(150));
        Assert.Equal(100, cached);
        Assert.Equal([new RestoreOp("a", "kv:a", 1)], kv.TakeOps());
        Assert.Equal((1, 0, 1L), (kv.Resident, kv.Parked, kv.Restores));
        Assert.Empty(kv.CheckInvariants([a], 1024));
    }

    [Fact]
    public void Load_NewSessionStartingLikeAResidentOne_CopiesItsKvAndCutsItToTheSharedWholeBlocks()
    {
        var kv = new KvResidency(slots: 2, contextPerSlot: 1024, blockSize: 16);
        var donor = Session("donor");
        kv.Load(donor, 0, Tokens(200));
        kv.Append(donor, Tokens(200));
        kv.TakeOps();
        var prompt = Tokens(120).Concat(Tokens(30, 9000)).ToArray();

        // 120 tokens in common, 112 of them in whole 16-token blocks: another session's prompt is never revealed
        // token by token through cached_tokens.
        var fresh = Session("fresh");
        Assert.Equal(112, kv.Load(fresh, 1, prompt));
        Assert.Equal([new CopyOp("fresh", 0, 1), new TruncateOp("fresh", 1, 112)], kv.TakeOps());
        Assert.Equal(Tokens(112), fresh.KvTokens);
        Assert.Empty(kv.CheckInvariants([donor, fresh], 1024));
    }

    [Fact]
    public void Load_OtherTenantsSessionStartsTheSame_SharesNothing()
    {
        var kv = new KvResidency(slots: 2, contextPerSlot: 1024, blockSize: 16);
        var donor = Session("donor", "tenant-a");
        kv.Load(donor, 0, Tokens(200));
        kv.Append(donor, Tokens(200));
        kv.TakeOps();
        Assert.Equal(0, kv.Load(Session("other", "tenant-b"), 1, Tokens(200)));
        Assert.Empty(kv.TakeOps());
    }

    [Fact]
    public void ApplyResult_FailedRestore_SessionHoldsNothingAndTheFailureIsCounted()
    {
        var kv = new KvResidency(slots: 1, contextPerSlot: 1024, blockSize: 16);
        var a = Session("a");
        kv.Load(a, 0, Tokens(100));
        kv.Append(a, Tokens(100));
        kv.Evict(a, park: true);
        kv.Load(a, 0, Tokens(150));
        var restore = kv.TakeOps().OfType<RestoreOp>().Single();

        Assert.True(kv.ApplyResult(new MemoryOpResult(restore, false, TimeSpan.Zero, 0), a));
        Assert.Empty(a.KvTokens);
        Assert.Empty(a.Blocks);
        Assert.Equal((1L, 1L), (kv.RestoreFailures, kv.Recomputes));
        Assert.Empty(kv.CheckInvariants([a], 1024));
    }
}
