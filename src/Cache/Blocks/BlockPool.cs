using System.Diagnostics;

namespace Serving.Cache.Blocks;

/// <summary>
/// Paged KV accounting: a fixed number of token blocks, handed out and returned by id, with ref counts so a block
/// can be shared. "No room" is a return value: the pool never decides who should give memory back.
/// Not thread-safe: owned by the worker's engine thread.
/// </summary>
public sealed class BlockPool
{
    private readonly int[] _refCounts;
    private readonly Stack<int> _free;

    public BlockPool(int totalBlocks, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalBlocks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        TotalBlocks = totalBlocks;
        BlockSize = blockSize;
        _refCounts = new int[totalBlocks];
        // Pushed in reverse so block 0 is handed out first: deterministic ids make exact-value tests possible.
        _free = new Stack<int>(Enumerable.Range(0, totalBlocks).Reverse());
    }

    public int TotalBlocks { get; }

    public int BlockSize { get; }

    public int FreeBlocks => _free.Count;

    public int UsedBlocks => TotalBlocks - _free.Count;

    /// <summary>Fraction of blocks in use, 0..1.</summary>
    public double Usage => (double)UsedBlocks / TotalBlocks;

    /// <summary>Blocks needed to hold <paramref name="tokens"/> tokens.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Takes <paramref name="count"/> blocks, all or nothing.</summary>
    public bool TryAllocate(int count, List<int> into)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _free.Count)
        {
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            var block = _free.Pop();
            _refCounts[block] = 1;
            into.Add(block);
        }

        AssertInvariants();
        return true;
    }

    /// <summary>Shares a block that is already in use.</summary>
    public void AddRef(int block)
    {
        if (_refCounts[block] <= 0)
        {
            throw new InvalidOperationException($"block {block} is free and cannot be shared");
        }

        _refCounts[block]++;
    }

    public void Release(IEnumerable<int> blocks)
    {
        foreach (var block in blocks)
        {
            if (_refCounts[block] <= 0)
            {
                throw new InvalidOperationException($"block {block} released twice");
            }

            if (--_refCounts[block] == 0)
            {
                _free.Push(block);
            }
        }

        AssertInvariants();
    }

    public int RefCount(int block) => _refCounts[block];

    /// <summary>free + used = total, and a block is free exactly when nothing references it.</summary>
    [Conditional("DEBUG")]
    public void AssertInvariants()
    {
        Debug.Assert(_free.Count <= TotalBlocks, "more free blocks than blocks");
        var referenced = _refCounts.Count(r => r > 0);
        Debug.Assert(referenced + _free.Count == TotalBlocks, "free + used != total");
        foreach (var block in _free)
        {
            Debug.Assert(_refCounts[block] == 0, $"block {block} is both free and referenced");
        }
    }

    /// <summary>The same checks as <see cref="AssertInvariants"/>, in every build, for property tests.</summary>
    public IEnumerable<string> CheckInvariants()
    {
        var referenced = _refCounts.Count(r => r > 0);
        if (referenced + _free.Count != TotalBlocks)
        {
            yield return $"free {_free.Count} + used {referenced} != total {TotalBlocks}";
        }

        if (_refCounts.Any(r => r < 0))
        {
            yield return "negative ref count";
        }

        if (_free.Distinct().Count() != _free.Count)
        {
            yield return "a block is on the free list twice";
        }

        foreach (var block in _free.Where(b => _refCounts[b] != 0))
        {
            yield return $"block {block} is both free and referenced";
        }
    }
}
