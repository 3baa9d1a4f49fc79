using Serving.LoadTests.Compare;
using Serving.LoadTests.Replay;
using Serving.LoadTests.Reporting;

namespace Serving.LoadTests.Tests;

/// <summary><c>compare --rounds</c>: runs of one configuration pooled into one sample, ratios kept round by round.</summary>
public sealed class LoadCurveRoundsTests
{
    [Fact]
    public void LoadPoint_TwoRounds_PoolsSessionsKeepsEachSessionsTurnsAndPairsRatiosByRound()
    {
        // Round 1: baseline sessions take 10 and 30 s, ours 5 and 15 s; round 2: baseline 20 and 20 s, ours 10 and 20 s.
        var rounds = new List<IReadOnlyList<ReplayResult>>
        {
            new[] { Run("peer", 10, 30), Run("ours", 5, 15) },
            new[] { Run("peer", 20, 20), Run("ours", 10, 20) },
        };

        var point = LoadPoint.Of(0.5, rounds);

        Assert.Equal(["peer", "ours"], point.Results.Select(r => r.Name));
        var ours = point.Results[1];
        Assert.Equal(4, ours.Sessions.Count);
        Assert.Equal((5 + 15 + 10 + 20) / 4.0, Summary.Completion(ours).Mean, tolerance: 0.01);
        // Each session's two turns stay its own in every round: the server wait sums per session, never across rounds.
        Assert.Equal(4, Summary.ServerWait(ours).Count);
        Assert.Equal([0.5, 0.75], point.RoundRatios(1).Select(x => Math.Round(x, 3)));
        Assert.Equal(30.0, ours.WallSeconds);
        Assert.Contains("| 0.50, 0.75 |", LoadCurveReport.Table([point]));
    }

    [Fact]
    public void RunningOrder_EachRoundStartsWithTheNextConfiguration()
    {
        Assert.Equal([0, 1, 2], CompareRunner.RunningOrder(3, 0));
        Assert.Equal([1, 2, 0], CompareRunner.RunningOrder(3, 1));
        Assert.Equal([0, 1, 2], CompareRunner.RunningOrder(3, 3));
    }

    private static ReplayResult Run(string name, params double[] completions)
    {
        var sessions = completions.Select((c, i) => new SessionRecord($"s{i}", 0, c, 0)).ToList();
        var turns = completions.SelectMany((c, i) => new[] { Turn($"s{i}", 0, c / 4), Turn($"s{i}", 1, c / 4) }).ToList();
        return new ReplayResult(name, turns, sessions, 15, []);
    }

    private static TurnRecord Turn(string session, int turn, double e2e) => new(session, turn, 0, 0.1, [], e2e, 100, 50, 8, 200, null);
}
