using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Serving.Cache.Prefix;

/// <summary>
/// Identifies full token blocks by a hash chain (vLLM's scheme): block i's hash covers block i-1's hash and its own
/// tokens, so equal hashes mean equal prefixes. The salt scopes chains to one tenant, so two tenants never match
/// each other's blocks even for identical text.
/// </summary>
public static class PrefixHash
{
    public static ulong[] Chain(ReadOnlySpan<int> tokens, int blockSize, ulong salt)
    {
        var blocks = tokens.Length / blockSize;
        var hashes = new ulong[blocks];
        var parent = salt;
        Span<byte> parentBytes = stackalloc byte[8];
        for (var b = 0; b < blocks; b++)
        {
            var hasher = new XxHash64();
            BitConverter.TryWriteBytes(parentBytes, parent);
            hasher.Append(parentBytes);
            hasher.Append(MemoryMarshal.AsBytes(tokens.Slice(b * blockSize, blockSize)));
            parent = hasher.GetCurrentHashAsUInt64();
            hashes[b] = parent;
        }

        return hashes;
    }

    /// <summary>A stable salt for a tenant or scope name.</summary>
    public static ulong Salt(string scope) => XxHash64.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(scope));

    /// <summary>
    /// Tokens of <paramref name="prompt"/> that <paramref name="held"/> already covers: whole blocks compared by
    /// hash chain, then the partial tail token by token, so reuse is exact to the token.
    /// </summary>
    public static int CommonPrefix(ReadOnlySpan<int> held, ulong[] heldChain, ReadOnlySpan<int> prompt, int blockSize, ulong salt)
    {
        var promptChain = Chain(prompt, blockSize, salt);
        var fullBlocks = 0;
        while (fullBlocks < heldChain.Length && fullBlocks < promptChain.Length && heldChain[fullBlocks] == promptChain[fullBlocks])
        {
            fullBlocks++;
        }

        var matched = fullBlocks * blockSize;
        while (matched < held.Length && matched < prompt.Length && held[matched] == prompt[matched])
        {
            matched++;
        }

        return matched;
    }
}
