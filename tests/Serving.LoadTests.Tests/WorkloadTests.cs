using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Tests;

public sealed class WorkloadTests
{
    [Fact]
    public void Generate_SameSeed_SameWorkloadAndJson()
    {
        var options = new WorkloadOptions { Sessions = 30, Seed = 9 };
        var dir = Directory.CreateTempSubdirectory("wl-").FullName;
        try
        {
            WorkloadGenerator.Generate(options).Save(Path.Combine(dir, "a.json"));
            WorkloadGenerator.Generate(options).Save(Path.Combine(dir, "b.json"));
            WorkloadGenerator.Generate(options with { Seed = 10 }).Save(Path.Combine(dir, "c.json"));
            Assert.Equal(File.ReadAllText(Path.Combine(dir, "a.json")), File.ReadAllText(Path.Combine(dir, "b.json")));
            Assert.NotEqual(File.ReadAllText(Path.Combine(dir, "a.json")), File.ReadAllText(Path.Combine(dir, "c.json")));
            var loaded = AgentWorkload.Load(Path.Combine(dir, "a.json"));
            Assert.Equal(30, loaded.Sessions.Count);
            Assert.Equal(WorkloadGenerator.Generate(options).TotalTurns, loaded.TotalTurns);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void DrawPause_ManySamples_HeavyTailShapedLikeCodingAgentTraces()
    {
        var random = new Random(5);
        var pauses = Enumerable.Range(0, 50_000).Select(_ => WorkloadGenerator.DrawPause(random).Seconds).Order().ToArray();
        var median = pauses[pauses.Length / 2];
        var p90 = pauses[(int)(pauses.Length * 0.9)];
        Assert.InRange(median, 0.2, 0.45);  // traces: 0.3 s
        Assert.InRange(p90, 9, 20);          // traces: 13.6 s
    }

    [Fact]
    public void Generate_PoissonArrivals_IncreaseAndAverageTheRate()
    {
        var workload = WorkloadGenerator.Generate(new WorkloadOptions { Sessions = 2000, ArrivalRate = 4 });
        var arrivals = workload.Sessions.Select(s => s.ArrivalSeconds).ToArray();
        Assert.Equal(arrivals.Order(), arrivals);
        Assert.InRange(arrivals[^1] / arrivals.Length, 0.22, 0.28);
        Assert.All(workload.Sessions, s => Assert.Equal(0, s.Turns[0].PauseBeforeSeconds));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not json")]
    [InlineData("{\"seed\":1,\"systemPrompt\":\"x\",\"sessions\":[]}")]
    public void Load_MissingOrInvalidFile_ThrowsAClearError(string? content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"wl-{Guid.NewGuid():N}.json");
        if (content is not null) File.WriteAllText(path, content);
        try
        {
            var e = Assert.Throws<WorkloadFileException>(() => AgentWorkload.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
