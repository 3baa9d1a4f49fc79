namespace Serving.Scheduler.Levels;

/// <summary>
/// MARS's level arithmetic: a turn's level is the larger of its size level (uncached prefill still to do) and its
/// feedback level (demotions), minus one for each aging interval it waited unserved. Decoding turns are level 0.
/// </summary>
public static class MlfqLevels
{
    public static int SizeLevel(long tokens, IReadOnlyList<int> thresholds)
    {
        for (var level = 0; level < thresholds.Count; level++)
        {
            if (tokens <= thresholds[level])
            {
                return level;
            }
        }

        return thresholds.Count;
    }

    public static int Effective(int sizeLevel, int feedbackLevel, TimeSpan unserved, TimeSpan agingInterval)
    {
        var boost = (int)Math.Floor(unserved / agingInterval);
        return Math.Max(0, Math.Max(sizeLevel, feedbackLevel) - boost);
    }
}
