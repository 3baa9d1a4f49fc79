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
        var paths = RepoPaths.Find();
        Assert.True(paths is not null, "the gateway and worker must be built (./test.sh builds the solution first)");
        var folder = Directory.CreateTempSubdirectory("serving-smoke-").FullName;
        try
        {
            var model = Path.Combine(folder, "tiny.gguf");
            Assert.Equal(0, await RunAsync("dotnet", paths!.WorkerDll, "model", "--kind", "tiny", "--out", model));
            var workload = WorkloadGenerator.Generate(Commands.SmokeWorkload);
            var runner = new CompareRunner(paths.GatewayDll, paths.WorkerDll, model, ["--workers", "1", "--slots", "4", "--ctx-per-slot", "4096", "--threads", "1"], TextWriter.Null);
            var results = await runner.RunAsync(workload, CompareRunner.ParseConfigs("fcfs+drop,mlfq+adaptive"), TimeSpan.FromMinutes(2));

            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.Equal((0, workload.TotalTurns), (r.Errors, r.Turns.Count)));
            var report = ReportWriter.Write(Path.Combine(folder, "report"), results, "smoke");
            Assert.Contains("| mlfq+adaptive |", File.ReadAllText(report));
            Assert.True(File.Exists(Path.Combine(folder, "report", "completion-cdf.png")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<int> RunAsync(string file, params string[] args)
    {
        using var process = System.Diagnostics.Process.Start(file, args);
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
