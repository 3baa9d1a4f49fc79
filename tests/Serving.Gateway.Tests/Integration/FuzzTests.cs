using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Serving.Gateway.Tests.Support;
using Xunit.Abstractions;

namespace Serving.Gateway.Tests.Integration;

/// <summary>
/// 1,000 hostile requests (FsCheck picks the seeds, <see cref="HostileRequestGenerator"/> builds the bytes) against the
/// real gateway and worker: every one is answered, none with a 5xx, none hangs, and afterwards a valid request gets
/// the same answer as before the run.
/// </summary>
/// <summary>A gateway of its own: the sessions that valid-by-chance requests open stay out of the other tests' slots.</summary>
public sealed class FuzzGatewayFixture : GatewayFixture;

[Collection(GatewayCollection.Name)]
public sealed class FuzzTests(FuzzGatewayFixture gateway, ITestOutputHelper output) : IClassFixture<FuzzGatewayFixture>
{
    private const int Requests = 1000;

    [Fact]
    public async Task ThousandHostileRequests_NeverA5xxOrAHang_ThenAValidRequestGetsTheSameAnswer()
    {
        var before = await GreedyAnswerAsync();
        var statuses = new Dictionary<int, int>();
        var property = Prop.ForAll(ArbMap.Default.ArbFor<int>(), seed =>
        {
            var hostile = HostileRequestGenerator.Build(seed, GatewayFixture.KeyA);
            var answer = RawHttp.SendAsync(gateway.BaseUrl, hostile.Bytes, TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
            statuses[answer.Status] = statuses.GetValueOrDefault(answer.Status) + 1;
            var wellFormed = answer.Status is >= 400 and < 500 ? ErrorShapeOrEmpty(answer) : answer.Status == 200;
            return wellFormed.Label($"{hostile.Description} → HTTP {answer.Status}: {answer.Body[..Math.Min(answer.Body.Length, 300)]}");
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Requests).WithQuietOnSuccess(true), property);

        output.WriteLine(string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}")));
        Assert.Equal(Requests, statuses.Values.Sum());
        Assert.True(statuses.Where(s => s.Key is >= 400 and < 500).Sum(s => s.Value) > Requests / 2, "the generator should mostly produce bad requests");
        Assert.Equal(before, await GreedyAnswerAsync());
    }

    /// <summary>Our 4xx answers are OpenAI error objects; Kestrel's own (malformed HTTP, oversized headers) have no body.</summary>
    private static bool ErrorShapeOrEmpty(RawHttp.Answer answer)
    {
        if (answer.Body.Length == 0)
        {
            return true;
        }

        try
        {
            using var json = JsonDocument.Parse(answer.Body);
            var error = json.RootElement.GetProperty("error");
            return error.GetProperty("code").GetString() is { Length: > 0 } && error.GetProperty("message").GetString() is { Length: > 0 };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    private async Task<string> GreedyAnswerAsync()
    {
        using var http = gateway.Http();
        using var response = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = gateway.ModelName, max_tokens = 8, temperature = 0, messages = new[] { new { role = "user", content = "the fuzz run is over" } } });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }
}
