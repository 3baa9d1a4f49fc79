using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Serving.LoadTests.Compare;
using Serving.LoadTests.Replay;
using Serving.LoadTests.Simulation;
using Serving.LoadTests.Workload;

namespace Serving.LoadTests.Tests;

public sealed class ReplayAndSimulationTests
{
    [Fact]
    public void Configurations_name_the_worker_options_they_pass_and_unknown_suffixes_are_refused()
    {
        var configs = ServerConfig.ParseList("mlfq+adaptive,mlfq+adaptive+mixed,mlfq+adaptive+fixedcosts,mlfq+adaptive+mixed+fixedcosts,llama-server");
        Assert.Equal([[], ["--Gateway:Workers:ExtraArgs", "--decode-first off"], ["--Gateway:Workers:ExtraArgs", "--calibrate-costs off"],
            ["--Gateway:Workers:ExtraArgs", "--decode-first off --calibrate-costs off"], []], configs.Select(c => c.ExtraGatewayArgs.ToArray()).ToArray());
        Assert.True(configs[^1].IsPeer);
        Assert.Throws<ArgumentException>(() => ServerConfig.ParseList("mlfq+adaptive+fast"));
        Assert.Throws<ArgumentException>(() => ServerConfig.ParseList("mlfq+adaptive+mixed+mixed"));
    }

    [Fact]
    public async Task CheckServer_NothingListening_ReportsTheUrl()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        var problem = await ReplayHarness.CheckServerAsync(http);
        Assert.NotNull(problem);
        Assert.Contains($"127.0.0.1:{port}", problem);
    }

    /// <summary>
    /// Checks only the harness' own parsing and bookkeeping, against a canned SSE endpoint: TTFT recorded, usage read,
    /// errors counted by status. The real server is exercised by the gateway's integration tests and by compare.
    /// </summary>
    [Fact]
    public async Task Run_CannedStream_RecordsTurnsUsageAndErrorsByStatus()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapGet("/health/ready", () => Results.Ok());
        app.MapPost("/v1/chat/completions", async (HttpContext http) =>
        {
            if (http.Request.Headers["X-Session-Id"] == "session-1-00001")
            {
                http.Response.StatusCode = 503;
                await http.Response.WriteAsync("{\"error\":{\"message\":\"busy\",\"type\":\"server_busy\",\"param\":null,\"code\":\"server_busy\"}}");
                return;
            }

            http.Response.ContentType = "text/event-stream";
            await http.Response.WriteAsync("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n");
            await http.Response.WriteAsync("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n");
            await http.Response.WriteAsync("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}]}\n\n");
            await http.Response.WriteAsync("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":2,\"total_tokens\":52,\"prompt_tokens_details\":{\"cached_tokens\":40}}}\n\n");
            await http.Response.WriteAsync("data: [DONE]\n\n");
        });
        await app.StartAsync();
        var workload = WorkloadGenerator.Generate(new WorkloadOptions { Sessions = 2, ArrivalRate = 0, TurnsMedian = 2, PauseScale = 0 });
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First() + "/") };
        var result = await new ReplayHarness(http, "m", TextWriter.Null).RunAsync("canned", workload, TimeSpan.FromSeconds(30));

        Assert.Equal((1, 1), (result.Errors, result.ErrorsByStatus[503]));
        var ok = result.Turns.Where(t => t.Error is null).ToList();
        Assert.Equal(workload.Sessions[0].Turns.Count, ok.Count);
        Assert.All(ok, t => Assert.Equal((50, 40, 2, 1), (t.PromptTokens, t.CachedTokens, t.CompletionTokens, t.InterTokenSeconds.Count)));
        Assert.All(ok, t => Assert.NotNull(t.TtftSeconds));
        Assert.Equal(0.8, result.CachedRatio, 3);
        Assert.NotNull(result.Sessions.Single(s => s.Session == "session-1-00000").CompletionSeconds);
        Assert.Null(result.Sessions.Single(s => s.Session == "session-1-00001").CompletionSeconds);
    }

    [Fact]
    public void Simulate_SmallRun_EverySessionCompletesUnderEveryPolicy()
    {
        var simulator = new Simulator(new SimulationOptions { Sessions = 200, Workers = 4 });
        foreach (var config in ServerConfig.ParseList("mlfq+adaptive,fcfs+drop,mlfq+keep,mlfq+ttl,mlfq+adaptive+mixed", allowPeer: false))
        {
            var result = simulator.Run(config);
            Assert.Equal((200, 0), (result.Completion.Count, result.Unfinished));
            Assert.True(result.Ttft.Mean > 0 && result.Steps > 0);
        }

        var table = SimulationTable.Format([.. ServerConfig.ParseList("mlfq+adaptive,fcfs+drop").Select(simulator.Run)], 200, 4, TimeSpan.FromSeconds(1));
        Assert.Contains("| mlfq+adaptive |", table);
        Assert.Contains("| fcfs+drop |", table);
        Assert.Contains("Every session finished in every configuration", table);
    }

    [Fact]
    public void Simulate_AgentProfile_PoolsTheSessionsOfEverySeed()
    {
        var simulator = new Simulator(SimulationOptions.AgentProfile);
        var config = ServerConfig.ParseList("mlfq+adaptive", allowPeer: false)[0];
        var one = simulator.Run(config);
        var three = simulator.Run(config, seeds: 3);
        Assert.Equal((24, 0), (one.Completion.Count, one.Unfinished));
        Assert.Equal((72, 0), (three.Completion.Count, three.Unfinished));
        // Seed 1 is one of the three workloads, not the whole pool.
        Assert.NotEqual(one.Completion.Mean, three.Completion.Mean);
    }
}
