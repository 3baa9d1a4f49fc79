using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Serving.Gateway.Api;
using Serving.Gateway.Configuration;
using Serving.Gateway.Tenancy;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Tests.Unit;

/// <summary>Per-tenant limits, the reloaded keys file and cache_salt scoping, each on its own.</summary>
public sealed class TenancyTests
{
    [Fact]
    public void TenantLimiter_InFlightBoundPerTenant_OthersUnaffected_PlaceReturnedOnDispose()
    {
        using var limiter = new TenantLimiter(new GatewayOptions { Tenants = new TenantLimitOptions { MaxConcurrentRequests = 2 } });
        var first = limiter.TryAcquire("key-a");
        var second = limiter.TryAcquire("key-a");
        var third = limiter.TryAcquire("key-a");
        Assert.Null(first.Refusal);
        Assert.Null(second.Refusal);
        Assert.Equal((429, "rate_limit_exceeded", "requests"), (third.Refusal!.Status, third.Refusal.Code, third.Refusal.Type));
        Assert.Null(third.Lease);
        Assert.Null(limiter.TryAcquire("key-b").Refusal);

        first.Lease!.Dispose();
        Assert.Null(limiter.TryAcquire("key-a").Refusal);
    }

    [Fact]
    public void TenantLimiter_RequestsPerMinute_RefusesWithRetryAfter_PerTenant()
    {
        using var limiter = new TenantLimiter(new GatewayOptions { Tenants = new TenantLimitOptions { RequestsPerMinute = 3 } });
        for (var i = 0; i < 3; i++)
        {
            var admitted = limiter.TryAcquire("key-a");
            Assert.Null(admitted.Refusal);
            admitted.Lease?.Dispose();
        }

        var refused = limiter.TryAcquire("key-a");
        Assert.Equal("rate_limit_exceeded", refused.Refusal?.Code);
        Assert.InRange(refused.RetryAfterSeconds, 1, 60);
        Assert.Contains("3 per minute", refused.Refusal!.Message);
        Assert.Null(limiter.TryAcquire("key-b").Refusal);
    }

    [Fact]
    public void TenantLimiter_NoLimitsConfigured_AdmitsEverything()
    {
        using var limiter = new TenantLimiter(new GatewayOptions());
        Assert.All(Enumerable.Range(0, 1000).Select(_ => limiter.TryAcquire("anonymous")), r => Assert.Null(r.Refusal));
    }

    [Fact]
    public async Task ApiKeyStore_FileChanges_KeysFollow_AndAnEmptyFileNeverOpensTheServer()
    {
        var folder = Directory.CreateTempSubdirectory("serving-keys-").FullName;
        var file = Path.Combine(folder, "keys.txt");
        await File.WriteAllTextAsync(file, "# team keys\nfile-key-1\n\n");
        using var store = new ApiKeyStore(new GatewayOptions { ApiKeys = ["config-key"], ApiKeysFile = file }, NullLogger<ApiKeyStore>.Instance);
        Assert.True(Accepts(store, "file-key-1") && Accepts(store, "config-key"));
        Assert.False(Accepts(store, "# team keys"));

        // The watcher notices an atomic replace (write elsewhere, rename over).
        var reloaded = new TaskCompletionSource<ApiKeyReload>(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Reloaded += r => { if (r.Keys == 2) reloaded.TrySetResult(r); };
        await File.WriteAllTextAsync(file + ".new", "file-key-2\nfile-key-3\n");
        File.Move(file + ".new", file, overwrite: true);
        await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(Accepts(store, "file-key-1"));
        Assert.True(Accepts(store, "file-key-2") && Accepts(store, "file-key-3") && Accepts(store, "config-key"));

        await File.WriteAllTextAsync(file, "# all revoked by mistake\n");
        Assert.NotNull(store.Reload().Error);
        Assert.True(Accepts(store, "file-key-2"));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void GatewayOptions_KeysFileMissingOrEmpty_IsAConfigurationError()
    {
        var empty = Path.GetTempFileName();
        Assert.Contains(new GatewayOptions { ApiKeysFile = "/nonexistent/keys.txt" }.Validate(), e => e.Contains("ApiKeysFile cannot be read"));
        Assert.Contains(new GatewayOptions { ApiKeysFile = empty }.Validate(), e => e.Contains("holds no key"));
        Assert.Contains(new GatewayOptions { Tenants = new TenantLimitOptions { RequestsPerMinute = -1 } }.Validate(), e => e.Contains("RequestsPerMinute"));
        File.Delete(empty);
    }

    [Theory]
    [InlineData("{\"cache_salt\":\"\"}")]
    [InlineData("{\"cache_salt\":5}")]
    [InlineData("{\"cache_salt\":[\"a\"]}")]
    public void CacheSalt_NotANonEmptyString_Is400(string body)
    {
        var (session, error) = SessionIdentity.Resolve(new DefaultHttpContext().Request, JsonDocument.Parse(body).RootElement, "key-a");
        Assert.Null(session);
        Assert.Equal((400, "cache_salt"), (error!.Status, error.Param));
    }

    [Fact]
    public void CacheSalt_ScopesSharingAndTheSession_WithinTheTenant()
    {
        SessionInfo Resolve(string body)
        {
            var request = new DefaultHttpContext().Request;
            request.Headers["X-Session-Id"] = "s1";
            return SessionIdentity.Resolve(request, JsonDocument.Parse(body).RootElement, "key-a").Session!;
        }

        var plain = Resolve("{}");
        var salted = Resolve("{\"cache_salt\":\"user-42\"}");
        var saltedAgain = Resolve("{\"cache_salt\":\"user-42\"}");
        var otherSalt = Resolve("{\"cache_salt\":\"user-43\"}");
        Assert.Equal(plain.Scope, Resolve("{\"cache_salt\":null}").Scope);
        Assert.Equal(salted.Scope, saltedAgain.Scope);
        Assert.Equal(3, new[] { plain.Scope, salted.Scope, otherSalt.Scope }.Distinct().Count());
        Assert.NotEqual(plain.Key, salted.Key);
    }

    private static bool Accepts(ApiKeyStore store, string key) => SecretDigest.MatchesAny(SecretDigest.Of(key), store.Digests);
}
