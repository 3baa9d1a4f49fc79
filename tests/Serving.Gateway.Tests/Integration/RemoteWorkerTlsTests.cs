using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Serving.Gateway.Supervision;
using Serving.Gateway.Tests.Support;
using Serving.Workers.Hosting;
using Serving.Workers.Models;

namespace Serving.Gateway.Tests.Integration;

/// <summary>A remote worker over HTTPS with its own certificate; the gateway trusts only the configured CA file.</summary>
[Collection(GatewayCollection.Name)]
public sealed class RemoteWorkerTlsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("serving-tls-").FullName;

    [Fact]
    public async Task RemoteWorkerOverHttps_GatewayTrustingItsCertificate_ServesChat()
    {
        var (certificate, key) = SelfSigned("worker-ca", IPAddress.Loopback);
        const string secret = "remote-worker-secret";
        var model = ModelGenerator.Generate(ModelKind.Tiny, Path.Combine(_folder, "tiny.gguf")).Path;
        await using var worker = await WorkerApp.StartAsync(new WorkerSettings
        {
            ModelPath = model, Slots = 2, ContextPerSlot = 1024, Threads = 1, Secret = secret, TlsCertificate = certificate, TlsKey = key,
        });
        Assert.StartsWith("https://", worker.Url);

        var (app, errors) = GatewayApp.Build(
        [
            "--urls", "http://127.0.0.1:0", "--Gateway:Workers:RemoteUrls:0", worker.Url, "--Gateway:Workers:RemoteSecret", secret,
            "--Gateway:Workers:RemoteCaFile", certificate, "--Logging:LogLevel:Default", "Warning",
        ]);
        Assert.True(app is not null, string.Join("; ", errors));
        await using var gateway = app;
        await gateway.StartAsync();
        var url = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(1) };
        await WaitReadyAsync(http);

        using var response = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = "remote", max_tokens = 3, messages = new[] { new { role = "user", content = "over TLS" } } });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
        await gateway.StopAsync();
    }

    [Fact]
    public void WorkerTls_OnlyCertificatesChainingToTheCaFile_WithTheRightName()
    {
        var (trusted, _) = SelfSigned("trusted", IPAddress.Loopback);
        var (stranger, _) = SelfSigned("stranger", IPAddress.Loopback);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(trusted);
        using var good = X509Certificate2.CreateFromPem(File.ReadAllText(trusted));
        using var bad = X509Certificate2.CreateFromPem(File.ReadAllText(stranger));

        Assert.True(WorkerTls.Trusted(roots, good, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(WorkerTls.Trusted(roots, bad, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(WorkerTls.Trusted(roots, good, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.Null(WorkerTls.Validation(null));
        Assert.NotNull(WorkerTls.Check(Path.Combine(_folder, "missing.pem")));
    }

    /// <summary>A self-signed server certificate for <paramref name="address"/>, written as PEM files.</summary>
    private (string Certificate, string Key) SelfSigned(string name, IPAddress address)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(address);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var (certPath, keyPath) = (Path.Combine(_folder, name + ".pem"), Path.Combine(_folder, name + ".key"));
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath);
    }

    private static async Task WaitReadyAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!(await http.GetAsync("/health/ready")).IsSuccessStatusCode)
        {
            Assert.True(DateTime.UtcNow < deadline, "the gateway never saw its HTTPS worker ready");
            await Task.Delay(100);
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
