using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serving.Gateway.Tenancy;
using Serving.Gateway.Tests.Support;

namespace Serving.Gateway.Tests.Integration;

/// <summary>A gateway of its own with a keys file and a per-key request rate (cache_salt is tested here too: few sessions, no eviction).</summary>
public sealed class TenantLimitsFixture : GatewayFixture
{
    public const int RequestsPerMinute = 6;

    public string KeysFile { get; } = Path.Combine(Directory.CreateTempSubdirectory("serving-keys-").FullName, "keys.txt");

    public TenantLimitsFixture() => File.WriteAllText(KeysFile, "# keys from a file\nfile-key-1\nrate-key\n");

    protected override string[] ExtraArgs =>
        ["--Gateway:ApiKeysFile", KeysFile, "--Gateway:Tenants:RequestsPerMinute", $"{RequestsPerMinute}", "--Gateway:Tenants:MaxConcurrentRequests", "8"];

    public ApiKeyStore Keys => Services.GetRequiredService<ApiKeyStore>();
}

[Collection(GatewayCollection.Name)]
public sealed class TenantLimitTests(TenantLimitsFixture gateway) : IClassFixture<TenantLimitsFixture>
{
    private static readonly object Request = new { model = "tiny", max_tokens = 1, messages = new[] { new { role = "user", content = "hi" } } };

    [Fact]
    public async Task RequestsPerMinute_OneKeyPastItsRate_Gets429WithRetryAfter_OtherKeysServed()
    {
        using var limited = gateway.Http("rate-key");
        for (var i = 0; i < TenantLimitsFixture.RequestsPerMinute; i++)
        {
            using var ok = await limited.PostAsJsonAsync("/v1/chat/completions", Request);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var refused = await limited.PostAsJsonAsync("/v1/chat/completions", Request);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(refused.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_exceeded", error.RootElement.GetProperty("error").GetProperty("code").GetString());

        using var otherKey = gateway.Http(GatewayFixture.KeyA);
        using var other = await otherKey.PostAsJsonAsync("/v1/chat/completions", Request);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task KeysFile_ReplacedWhileServing_NewKeyAcceptedRevokedKeyRefused()
    {
        using var firstKey = gateway.Http("file-key-1");
        using var secondKey = gateway.Http("file-key-2");
        using var configuredKey = gateway.Http(GatewayFixture.KeyA);
        using var before = await firstKey.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.Keys.Reloaded += r => { if (r.Error is null && r.Keys == 2) reloaded.TrySetResult(); };
        File.WriteAllText(gateway.KeysFile + ".new", "file-key-2\nrate-key\n");
        File.Move(gateway.KeysFile + ".new", gateway.KeysFile, overwrite: true);
        await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(30));

        using var revoked = await firstKey.GetAsync("/v1/models");
        using var added = await secondKey.GetAsync("/v1/models");
        using var configured = await configuredKey.GetAsync("/v1/models");
        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK), (revoked.StatusCode, added.StatusCode, configured.StatusCode));
    }

    [Fact]
    public async Task CacheSalt_SaltedRequestSharesNothingWithUnsalted_SameSaltShares()
    {
        // A gateway of its own: its slots hold only this test's sessions, so every donor stays resident.
        var system = "You are a coding agent. " + string.Concat(Enumerable.Repeat("Keep every change small and run the linter. ", 12));
        var tag = Guid.NewGuid().ToString("N");
        using var http = gateway.Http(GatewayFixture.KeyB);

        async Task<int> CachedAsync(string session, string? salt)
        {
            var body = new Dictionary<string, object>
            {
                ["model"] = gateway.ModelName, ["max_tokens"] = 2, ["temperature"] = 0,
                ["messages"] = new object[] { new { role = "system", content = system }, new { role = "user", content = "task " + session } },
            };
            if (salt is not null) body["cache_salt"] = salt;
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
            request.Headers.Add("X-Session-Id", $"{session}-{tag}");
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return json.RootElement.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        }

        Assert.Equal(0, await CachedAsync("plain-1", null));
        Assert.Equal(0, await CachedAsync("salted-1", "user-42"));
        Assert.True(await CachedAsync("salted-2", "user-42") >= 64, "the same salt should share the system prompt");
        Assert.True(await CachedAsync("plain-2", null) >= 64, "unsalted requests of one tenant should share the system prompt");
        Assert.Equal(0, await CachedAsync("salted-3", "user-43"));
    }
}
