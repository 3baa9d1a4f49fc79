using System.Runtime.InteropServices;
using Serving.Cache.Blocks;
using Serving.Cache.Prefix;
using Serving.Scheduler.Contracts;
using Serving.Scheduler.Core;

namespace Serving.Scheduler.Residency;

/// <summary>
/// Where every session's KV lives, beside the scheduler (which only orders and budgets): which slot holds which
/// session, block accounting of resident KV, parked entries, reuse of a session's own prefix and of another resident
/// session's. Each change is recorded as the memory op the engine runs before the next step's batch. Pure and
/// synchronous, like the scheduler that owns it.
/// <para>
/// Invariant: <see cref="SessionState.KvTokens"/> is exactly what the session's slot (or parked entry) holds once
/// the recorded ops have run; a failed op empties its slot (the executor guarantees it), and <see cref="ApplyResult"/>
/// makes the bookkeeping say so.
/// </para>
/// </summary>
internal sealed class KvResidency
{
    /// <summary>Below this many shared tokens, copying a whole sequence costs more than prefilling them.</summary>
    private const int MinSharedPrefix = 64;

    private readonly SessionState?[] _slots;
    private readonly BlockPool _blocks;
    private readonly int _blockSize;
    private readonly List<MemoryOp> _ops = [];

    public KvResidency(int slots, int contextPerSlot, int blockSize)
    {
        _slots = new SessionState?[slots];
        _blockSize = blockSize;
        _blocks = new BlockPool(Math.Max(1, slots * contextPerSlot / blockSize), blockSize);
    }

    public int SlotCount => _slots.Length;

    /// <summary>Occupied slots; each is an admission place held.</summary>
    public int Resident { get; private set; }

    public int Parked { get; private set; }

    public int FreeSlots => _slots.Length - Resident;

    public double Usage => _blocks.Usage;

    public long Parks { get; private set; }

    public long Restores { get; private set; }

    public long RestoreFailures { get; private set; }

    public long Drops { get; private set; }

    public long Recomputes { get; private set; }

    public long PrefixShares { get; private set; }

    /// <summary>The ops recorded since the last call, in order: they run before the batch they were planned with.</summary>
    public List<MemoryOp> TakeOps()
    {
        var ops = _ops.ToList();
        _ops.Clear();
        return ops;
    }

    public int? FreeSlot() => Array.IndexOf(_slots, null) is var free and >= 0 ? free : null;

    /// <summary>How many leading tokens of <paramref name="prompt"/> the session's KV already holds (whole blocks, then token-exact).</summary>
    public int CommonPrefix(SessionState session, int[] prompt)
    {
        if (session.KvTokens.Count == 0)
        {
            return 0;
        }

        var held = CollectionsMarshal.AsSpan(session.KvTokens);
        var chain = PrefixHash.Chain(held, _blockSize, session.Salt);
        return PrefixHash.CommonPrefix(held, chain, prompt, _blockSize, session.Salt);
    }

    /// <summary>
    /// Makes <paramref name="slot"/> hold the longest prefix of <paramref name="prompt"/> that can be had: the session's
    /// resident KV, its parked entry restored, or another resident session's copied; the rest is cut. Returns the
    /// prompt tokens already computed (at least one is left to compute: its logits give the first output token).
    /// </summary>
    public int Load(SessionState session, int slot, int[] prompt)
    {
        var common = Math.Min(CommonPrefix(session, prompt), prompt.Length - 1);
        if (session.Slot is null)
        {
            Occupy(session, slot);
            if (session.ParkedEntry is { } entry && common > 0)
            {
                // The restore runs before this step's batch; if it fails, the executor skips the slot's chunks and
                // the scheduler re-plans the turn from an empty slot (no step is lost waiting for the result).
                _ops.Add(new RestoreOp(session.Key, entry, slot));
                SetParked(session, null);
                Restores++;
            }
            else
            {
                DiscardParked(session);
                if (session.KvTokens.Count > 0)
                {
                    Recomputes++;
                }

                session.KvTokens.Clear();
                common = SharePrefix(session, slot, prompt);
            }
        }

        if (common < session.KvTokens.Count)
        {
            _ops.Add(new TruncateOp(session.Key, slot, common));
            session.KvTokens.RemoveRange(common, session.KvTokens.Count - common);
        }

        SyncBlocks(session);
        return common;
    }

    /// <summary>Tokens the engine computed into the session's slot.</summary>
    public void Append(SessionState session, ReadOnlySpan<int> tokens)
    {
        session.KvTokens.AddRange(tokens);
        SyncBlocks(session);
    }

    /// <summary>Frees a resident session's slot by parking its KV (kept for a restore) or dropping it.</summary>
    public void Evict(SessionState session, bool park)
    {
        var slot = session.Slot!.Value;
        if (park && session.KvTokens.Count > 0)
        {
            _ops.Add(new ParkOp(session.Key, slot, session.EntryId));
            SetParked(session, session.EntryId);
            Parks++;
        }
        else
        {
            _ops.Add(new DropOp(session.Key, slot, null));
            session.KvTokens.Clear();
            Drops++;
        }

        Vacate(session);
        SyncBlocks(session);
    }

    /// <summary>Frees everything the session holds, resident and parked.</summary>
    public void Release(SessionState session)
    {
        if (session.Slot is not null || session.ParkedEntry is not null)
        {
            _ops.Add(new DropOp(session.Key, session.Slot, session.ParkedEntry));
        }

        if (session.Slot is not null)
        {
            Vacate(session);
        }

        SetParked(session, null);
        session.KvTokens.Clear();
        SyncBlocks(session);
    }

    /// <summary>
    /// A failed op means the session's KV is gone (the executor emptied the slot): it recomputes, never resumes from
    /// wrong state. A drop cannot fail in a way that matters. True when the session's KV was reset.
    /// </summary>
    public bool ApplyResult(MemoryOpResult outcome, SessionState session)
    {
        if (outcome.Succeeded || outcome.Op is DropOp)
        {
            return false;
        }

        if (outcome.Op is RestoreOp)
        {
            RestoreFailures++;
        }

        if (outcome.Op is ParkOp)
        {
            SetParked(session, null);
        }
        else
        {
            Recomputes++;
        }

        session.KvTokens.Clear();
        SyncBlocks(session);
        return true;
    }

    /// <summary>Invariant checks for tests: slots, blocks and sessions agree (empty when all hold).</summary>
    public IEnumerable<string> CheckInvariants(ICollection<SessionState> sessions, int contextPerSlot)
    {
        foreach (var problem in _blocks.CheckInvariants())
        {
            yield return problem;
        }

        for (var slot = 0; slot < _slots.Length; slot++)
        {
            if (_slots[slot] is { } s && s.Slot != slot)
            {
                yield return $"slot {slot} points at session {s.Key} which thinks it is in slot {s.Slot}";
            }
        }

        if (Resident != _slots.Count(s => s is not null))
        {
            yield return $"resident count {Resident} disagrees with {_slots.Count(s => s is not null)} occupied slots";
        }

        if (Parked != sessions.Count(s => s.ParkedEntry is not null))
        {
            yield return $"parked count {Parked} disagrees with the sessions' parked entries";
        }

        var held = sessions.Sum(s => s.Blocks.Count);
        if (held != _blocks.UsedBlocks)
        {
            yield return $"sessions hold {held} blocks but the pool has {_blocks.UsedBlocks} in use";
        }

        foreach (var s in sessions)
        {
            if (s.Slot is not null && s.ParkedEntry is not null)
            {
                yield return $"session {s.Key} is both resident and parked";
            }

            if (s.Slot is not null && s.KvTokens.Count > contextPerSlot)
            {
                yield return $"session {s.Key} exceeds the slot context";
            }
        }
    }

    /// <summary>
    /// A session starting from nothing may copy the KV of a resident session of the same scope (tenant) that starts
    /// with the same tokens — typically the agent framework's system prompt and tool list. llama.cpp can only copy a
    /// whole sequence between non-unified slots, so the copy is truncated to the shared prefix (by <see cref="Load"/>).
    /// A donor restored earlier in this step is fine: its restore runs first, and a copy from a slot whose restore
    /// failed fails too (the executor guarantees it), which resets only the copying session.
    /// </summary>
    private int SharePrefix(SessionState session, int slot, int[] prompt)
    {
        SessionState? donor = null;
        var best = MinSharedPrefix - 1;
        foreach (var candidate in _slots)
        {
            if (candidate is null || candidate == session || candidate.Salt != session.Salt || candidate.KvTokens.Count <= best)
            {
                continue;
            }

            // Whole blocks only: another session's prompt must not be readable token by token through cached_tokens.
            var shared = Math.Min(CommonPrefix(candidate, prompt), prompt.Length - 1) / _blockSize * _blockSize;
            if (shared > best)
            {
                (donor, best) = (candidate, shared);
            }
        }

        if (donor is null)
        {
            return 0;
        }

        _ops.Add(new CopyOp(session.Key, donor.Slot!.Value, slot));
        session.KvTokens.AddRange(donor.KvTokens);
        PrefixShares++;
        return best;
    }

    private void DiscardParked(SessionState session)
    {
        if (session.ParkedEntry is { } entry)
        {
            _ops.Add(new DropOp(session.Key, null, entry));
            SetParked(session, null);
        }
    }

    private void Occupy(SessionState session, int slot)
    {
        _slots[slot] = session;
        session.Slot = slot;
        Resident++;
    }

    private void Vacate(SessionState session)
    {
        _slots[session.Slot!.Value] = null;
        session.Slot = null;
        Resident--;
    }

    private void SetParked(SessionState session, string? entry)
    {
        Parked += (entry is null ? 0 : 1) - (session.ParkedEntry is null ? 0 : 1);
        session.ParkedEntry = entry;
    }

    /// <summary>Resident sessions hold exactly the blocks their tokens need; parked and dropped ones hold none.</summary>
    private void SyncBlocks(SessionState session)
    {
        var needed = session.Slot is null ? 0 : _blocks.BlocksFor(session.KvTokens.Count);
        if (needed < session.Blocks.Count)
        {
            _blocks.Release(session.Blocks.GetRange(needed, session.Blocks.Count - needed));
            session.Blocks.RemoveRange(needed, session.Blocks.Count - needed);
        }
        else if (needed > session.Blocks.Count && !_blocks.TryAllocate(needed - session.Blocks.Count, session.Blocks))
        {
            // Cannot happen while each slot stays within its context: the pool has exactly slots × context tokens.
            throw new InvalidOperationException($"KV block accounting overflow for session {session.Key}");
        }
    }
}
