using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Serving.Cache.Parking;

/// <summary>
/// A bounded host-memory pool of fixed-size pages, allocated and touched once up front so parking never allocates
/// (allocating 12 MB per park costs 100× the copy itself). A blob spans as many pages as it needs.
/// </summary>
internal sealed unsafe class HostMemoryTier : IDisposable
{
    private sealed record Entry(int[] Pages, long Length, ulong Checksum, long Sequence);

    private readonly byte* _arena;
    private readonly Stack<int> _freePages;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public HostMemoryTier(long capacityBytes, int pageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageBytes);
        PageBytes = pageBytes;
        PageCount = (int)(capacityBytes / pageBytes);
        var bytes = (nuint)PageCount * (nuint)pageBytes;
        _arena = (byte*)NativeMemory.AlignedAlloc(Math.Max(bytes, 64), 64);
        NativeMemory.Clear(_arena, bytes);
        _freePages = new Stack<int>(Enumerable.Range(0, PageCount).Reverse());
    }

    public int PageBytes { get; }

    public int PageCount { get; }

    public long Capacity => (long)PageCount * PageBytes;

    public long UsedBytes => (long)(PageCount - _freePages.Count) * PageBytes;

    public int Count => _entries.Count;

    public bool Contains(string id) => _entries.ContainsKey(id);

    public long SizeOf(string id) => _entries.TryGetValue(id, out var e) ? e.Length : -1;

    public int PagesFor(long length) => (int)((length + PageBytes - 1) / PageBytes);

    public bool HasRoomFor(long length) => PagesFor(length) <= _freePages.Count;

    public bool TryStore(string id, ReadOnlySpan<byte> blob, long sequence)
    {
        Remove(id);
        var needed = PagesFor(blob.Length);
        if (needed > _freePages.Count)
        {
            return false;
        }

        var pages = new int[needed];
        for (var i = 0; i < needed; i++)
        {
            pages[i] = _freePages.Pop();
            var part = blob.Slice(i * PageBytes, Math.Min(PageBytes, blob.Length - i * PageBytes));
            part.CopyTo(Page(pages[i]));
        }

        _entries[id] = new Entry(pages, blob.Length, XxHash64.HashToUInt64(blob), sequence);
        AssertInvariants();
        return true;
    }

    /// <summary>Reads a present entry into a large enough buffer (the tiered store checks both first).</summary>
    public ParkedReadResult Read(string id, Span<byte> destination)
    {
        var entry = _entries[id];

        var target = destination[..(int)entry.Length];
        for (var i = 0; i < entry.Pages.Length; i++)
        {
            var n = (int)Math.Min(PageBytes, entry.Length - (long)i * PageBytes);
            Page(entry.Pages[i])[..n].CopyTo(target.Slice(i * PageBytes, n));
        }

        return XxHash64.HashToUInt64(target) == entry.Checksum ? ParkedReadResult.Ok : ParkedReadResult.ChecksumMismatch;
    }

    /// <summary>The entry stored longest ago (the most idle), or null when empty.</summary>
    public string? MostIdle() => _entries.Count == 0 ? null : _entries.MinBy(e => e.Value.Sequence).Key;

    public long SequenceOf(string id) => _entries[id].Sequence;

    public void Remove(string id)
    {
        if (_entries.Remove(id, out var entry))
        {
            foreach (var page in entry.Pages)
            {
                _freePages.Push(page);
            }
        }

        AssertInvariants();
    }

    /// <summary>Flips one stored byte: lets tests prove that damage is detected.</summary>
    internal void CorruptForTest(string id) => Page(_entries[id].Pages[0])[0] ^= 0xFF;

    /// <param name="thorough">Also checks that no page is both free and used (a set intersection: tests only).</param>
    public IEnumerable<string> CheckInvariants(bool thorough = true)
    {
        var used = _entries.Values.Sum(e => e.Pages.Length);
        if (used + _freePages.Count != PageCount)
        {
            yield return $"host pages: used {used} + free {_freePages.Count} != total {PageCount}";
        }

        if (thorough && _entries.Values.SelectMany(e => e.Pages).Intersect(_freePages).Any())
        {
            yield return "a host page is both free and used";
        }
    }

    /// <summary>The cheap checks after every change in debug builds; property tests run the thorough ones.</summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        var problems = CheckInvariants(thorough: false).ToList();
        Debug.Assert(problems.Count == 0, string.Join("; ", problems));
    }

    private Span<byte> Page(int page) => new(_arena + (long)page * PageBytes, PageBytes);

    public void Dispose() => NativeMemory.AlignedFree(_arena);
}
