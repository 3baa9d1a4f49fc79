using Serving.LoadTests.Compare;
using Serving.LoadTests.Reporting;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Tests;

/// <summary>
/// The CI smoke variant of <c>compare</c>: the real gateway and worker processes on the tiny model, two
/// configurations, a small fast workload. Asserts only that the harness completes with zero errors (not timings).
/// </summary>
public sealed class CompareSmokeTests
{
    [Fact]
    public async Task CompareSmoke_RealServiceOnTinyModel_CompletesWithZeroErrorsAndWritesReport()
    {
        using var tiny = new TinyModelFolder("serving-smoke-");
        var workload = WorkloadGenerator.Generate(CompareProfile.Smoke.Workload);
        var runner = new CompareRunner(tiny.Paths.GatewayDll, tiny.Paths.WorkerDll, null, tiny.Model, CompareProfile.Smoke.Shape, TextWriter.Null);
        var results = await runner.RunAsync(workload, ServerConfig.ParseList("fcfs+drop,mlfq+adaptive"), CompareProfile.Smoke.LimitPerRun);

        Assert.Equal(2, results.Count);
        Assert.All(results, r => Assert.Equal((0, workload.TotalTurns), (r.Errors, r.Turns.Count)));
        var report = ReportWriter.Write(Path.Combine(tiny.Folder, "report"), results, "smoke");
        Assert.Contains("| mlfq+adaptive |", File.ReadAllText(report));
        Assert.True(File.Exists(Path.Combine(tiny.Folder, "report", "completion-cdf.png")));
    }
}
