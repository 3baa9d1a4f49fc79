namespace Serving.Workers.Protocol;

/// <summary>Streaming text against markers that may arrive split across tokens (stop strings, tool-call tags).</summary>
public static class PartialMarker
{
    /// <summary>Length of the longest tail of <paramref name="text"/> that is a proper prefix of <paramref name="marker"/>.</summary>
    public static int TailLength(ReadOnlySpan<char> text, string marker)
    {
        for (var k = Math.Min(marker.Length - 1, text.Length); k > 0; k--)
        {
            if (text[^k..].SequenceEqual(marker.AsSpan(0, k)))
            {
                return k;
            }
        }

        return 0;
    }
}
